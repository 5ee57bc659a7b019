import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { readElf } from '../src/elf/reader.js';
import { generateForEra, generateTables } from '../src/gen/generate.js';
import { CLI, scratchDir, x86pt } from './support/cli.js';
import { checkDemoSample, demoTables, DEMO_SAMPLES } from '../src/cli/demo.js';

describe('x86pt demo', () => {
  const dir = scratchDir();

  it('generates and verifies one sample kernel per mode, writing nothing', async () => {
    const result = await execInEmpty(dir);
    expect(result.exitCode).toBe(0);
    for (const mode of ['32-bit paging', 'PAE paging', 'IA-32e paging']) expect(result.stdout).toContain(`== ${mode}`);
    expect(result.stdout.match(/^OK: /gm)).toHaveLength(4);
    expect(result.stdout).toMatch(/^OK: ia32e-2025\.bin does what ia32e-2025\.elf asks/m);
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

describe('the demo\'s check of the 2025 sample: the spec of its era, not only the walker', () => {
  const sample = DEMO_SAMPLES.find((s) => s.name === 'ia32e-2025')!;
  const tables = demoTables(sample);
  /** The 8-byte entry mapping physical `phys` with a 4 KiB page (P set, PS clear): the text region's first page, loaded at 4 MiB. */
  const pteOf = (bytes: Uint8Array, phys: bigint): number => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at + 8 <= bytes.length; at += 8) {
      const entry = view.getBigUint64(at, true);
      if ((entry & 1n) === 1n && (entry & 0x80n) === 0n && (entry & 0x000ffffffffff000n) === phys) return at;
    }
    throw new Error(`no PTE maps ${phys.toString(16)}`);
  };
  const mutated = (change: (entry: bigint) => bigint): Uint8Array => {
    const bytes = new Uint8Array(tables.bytes);
    const view = new DataView(bytes.buffer);
    const at = pteOf(bytes, 0x400000n);
    view.setBigUint64(at, change(view.getBigUint64(at, true)), true);
    return bytes;
  };

  it('passes the generated tables, checked against the 2025 spec', async () => {
    expect(tables.era).toBe('2025');
    const result = await checkDemoSample(sample, tables.bytes);
    expect(result.ok).toBe(true);
    expect(result.expected.find((r) => r.virt === 0x40000000n)).toMatchObject({ phys: 0x400000n, writable: false, executable: true });
  });

  it('reports a mismatch at the text page when its PTE is made writable, and when it is made not present', async () => {
    for (const change of [(e: bigint) => e | 2n, (e: bigint) => e & ~1n]) {
      const result = await checkDemoSample(sample, mutated(change));
      expect(result.ok).toBe(false);
      expect(result.mismatches.map((m) => m.virt)).toContain(0x40000000n);
    }
  });
});

/** Runs the demo from an empty directory, to see that it writes nothing there. */
function execInEmpty(dir: string) {
  mkdirSync(join(dir, 'empty'));
  return execa('node', [CLI, 'demo'], { cwd: join(dir, 'empty'), reject: false });
}
