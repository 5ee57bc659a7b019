/**
 * Regenerates test/golden/gen/*.bin with the reference generator:
 *   npx vite-node test/support/make-golden.ts -- /path/to/gen_mmu.py
 * (needs python3 with pyelftools). The tests themselves only read the files.
 */
import { mkdtempSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { kernelElf } from '../../src/elf/kernel.js';
import { GOLDEN_LAYOUTS } from './golden-layouts.js';
import { GOLDEN_DIR } from './golden.js';

const reference = process.argv.slice(2).filter((a) => a !== '--')[0];
if (!reference) {
  process.stderr.write('usage: vite-node test/support/make-golden.ts -- /path/to/gen_mmu.py\n');
  process.exit(2);
}
const work = mkdtempSync(join(tmpdir(), 'x86pt-golden-'));
try {
  for (const [name, kernel] of Object.entries(GOLDEN_LAYOUTS)) {
    const elf = join(work, `${name}.elf`);
    const out = join(work, `${name}.bin`);
    writeFileSync(elf, kernelElf(kernel));
    await execa(process.env.PYTHON ?? '/usr/bin/python3', [reference, '-k', elf, '-o', out]);
    copyFileSync(out, join(GOLDEN_DIR, `${name}.bin`));
    process.stdout.write(`${name}\n`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
