import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { readElf } from '../src/elf/reader.js';
import { generateForEra, generateTables } from '../src/gen/generate.js';
import { CLI, scratchDir, x86pt } from './support/cli.js';

describe('x86pt demo', () => {
  const dir = scratchDir();

  it('generates and verifies one sample kernel per mode, writing nothing', async () => {
    const result = await execInEmpty(dir);
    expect(result.exitCode).toBe(0);
    for (const mode of ['32-bit paging', 'PAE paging', 'IA-32e paging']) expect(result.stdout).toContain(`== ${mode}`);
    expect(result.stdout.match(/^OK: /gm)).toHaveLength(3);
    expect(result.stdout).toContain('== Zephyr 2025 contract, IA-32e');
    expect(result.stdout).toContain('architectural checks: 0 violations (era 2025');
    expect(result.stdout).toContain('(same memory as 0xc0100000-0xc0200000)');
    expect(result.stdout).toMatch(/0xffff800000200000-0xffff800000400000 +4 KiB x 512 +-> 0x00200000 +r-x user/);
    expect(readdirSync(join(dir, 'empty'))).toEqual([]);
  });

  it('writes the sample kernels and tables with --out, and they regenerate to the same bytes', async () => {
    const out = join(dir, 'out');
    expect((await x86pt(['demo', '--out', out])).exitCode).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toEqual(['32bit-identity.bin', '32bit-identity.elf', 'ia32e-2025.bin', 'ia32e-2025.elf', 'ia32e-high-half.bin', 'ia32e-high-half.elf', 'pae-dual.bin', 'pae-dual.elf']);
    const modern = readElf(join(out, 'ia32e-2025.elf'));
    const regeneratedModern = generateForEra({ symbols: modern.symbols, sizes: modern.sizes });
    expect(regeneratedModern.era).toBe('2025');
    expect(Buffer.from(readFileSync(join(out, 'ia32e-2025.bin'))).equals(Buffer.from(regeneratedModern.bytes))).toBe(true);
    for (const name of ['32bit-identity', 'pae-dual', 'ia32e-high-half']) {
      const regenerated = generateTables(readElf(join(out, `${name}.elf`)).symbols).bytes;
      expect(Buffer.from(readFileSync(join(out, `${name}.bin`))).equals(Buffer.from(regenerated))).toBe(true);
    }
  });
});

/** Runs the demo from an empty directory, to see that it writes nothing there. */
function execInEmpty(dir: string) {
  mkdirSync(join(dir, 'empty'));
  return execa('node', [CLI, 'demo'], { cwd: join(dir, 'empty'), reject: false });
}
