import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateTables } from '../src/gen/generate.js';
import { elfClassOf, kernelSymbolMap, kernelSymbols, type KernelDescription } from '../src/elf/kernel.js';
import { InputError } from '../src/core/errors.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { readGolden } from './support/golden.js';
import { scratchDir, writeKernel, x86pt } from './support/cli.js';
import { linkKernel } from './support/gnu.js';

const symbolsOf = kernelSymbolMap;
const generate = (kernel: KernelDescription, compat = false) => generateTables(symbolsOf(kernel), { compat });

/** The reference's PAE output with bits 1-2 of each present PDPTE (the last 32 bytes) cleared. */
function withFixedPdptes(bytes: Uint8Array): Uint8Array {
  const fixed = bytes.slice();
  for (let entry = fixed.length - 32; entry < fixed.length; entry += 8) {
    if (fixed[entry]! & 1) fixed[entry] = fixed[entry]! & ~0b110;
  }
  return fixed;
}

describe('golden vectors from the reference generator', () => {
  for (const [name, kernel] of Object.entries(GOLDEN_LAYOUTS)) {
    it(`${name}: --compat is byte-identical`, () => {
      expect(Buffer.from(generate(kernel, true).bytes).equals(Buffer.from(readGolden(name)))).toBe(true);
    });
    it(`${name}: default differs only in PAE PDPTEs`, () => {
      const golden = readGolden(name);
      const expected = kernel.mode === 'pae' ? withFixedPdptes(golden) : golden;
      if (kernel.mode === 'pae') expect(Buffer.from(expected).equals(Buffer.from(golden))).toBe(false);
      expect(Buffer.from(generate(kernel).bytes).equals(Buffer.from(expected))).toBe(true);
    });
  }

  it('covers every committed golden file', () => {
    const files = readdirSync(join(import.meta.dirname, 'golden', 'gen')).filter((f) => f.endsWith('.bin'));
    expect(files.map((f) => f.replace(/\.bin$/, '')).sort()).toEqual(Object.keys(GOLDEN_LAYOUTS).sort());
  });
});

describe('table structure', () => {
  const base: KernelDescription = { mode: 'ia32e', sramBase: 0n, sramSizeKiB: 1024n * 1024n, pagetablesStart: 0x200000n };

  it('builds the minimal set for 1 GiB of IA-32e: PML4, PDPT, PD and 512 PTs, top level last', () => {
    const tables = generate(base);
    expect(tables.tableCount).toBe(1 + 1 + 1 + 512);
    expect(tables.bytes.length).toBe(515 * 4096);
    expect(tables.topLevelPhys).toBe(0x200000n + 514n * 4096n);
    const view = new DataView(tables.bytes.buffer);
    // PML4 entry 0 -> the PDPT, the first table made.
    expect(view.getBigUint64(514 * 4096, true)).toBe(0x200000n | 0b111n);
  });

  it('puts the 32-byte PAE PDPT last', () => {
    const tables = generate({ mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 2048n, pagetablesStart: 0x300000n });
    expect(tables.bytes.length).toBe(3 * 4096 + 32);
    expect(tables.topLevelPhys).toBe(0x300000n + 3n * 4096n);
  });

  it('is deterministic', () => {
    const kernel = GOLDEN_LAYOUTS['ia32e-high-half']!;
    expect(Buffer.from(generate(kernel).bytes).equals(Buffer.from(generate(kernel).bytes))).toBe(true);
  });

  it('leaves page 0 unmapped when identity-only, maps it when dual', () => {
    const leafZero = (kernel: KernelDescription) => new DataView(generate(kernel).bytes.buffer).getUint32(4096, true);
    const identity: KernelDescription = { mode: 'pae', sramBase: 0n, sramSizeKiB: 4096n, pagetablesStart: 0x200000n };
    expect(leafZero(identity)).toBe(0);
    expect(leafZero({ ...identity, kernelVmBase: 0x80000000n, pagetablesStart: 0x80200000n }) & 1).toBe(1);
  });

  it('keeps 64-bit virtual addresses exact: a high-half region lands in the shared leaf entries', () => {
    const tables = generate(GOLDEN_LAYOUTS['ia32e-high-half']!);
    // The leaf for 0x100000 (text, via 0xffff800000100000) is P|US, no RW, no XD.
    const pt = new DataView(tables.bytes.buffer, 2 * 4096, 4096);
    expect(pt.getBigUint64(256 * 8, true)).toBe(0x100000n | 0b101n);
  });
});

interface Refusal {
  readonly why: string;
  readonly kernel: KernelDescription;
  readonly message: RegExp;
}

const ok32: KernelDescription = { mode: '32bit', sramBase: 0x100000n, sramSizeKiB: 4096n, pagetablesStart: 0x400000n };
const okPae: KernelDescription = { ...ok32, mode: 'pae' };
const ok64: KernelDescription = { ...ok32, mode: 'ia32e' };
const perms = (kernel: KernelDescription, regions: KernelDescription['regions']): KernelDescription => ({
  ...kernel,
  regionPermissions: true,
  regions: { _image_text: { start: 0x100000n, size: 0x1000n }, _image_rodata: { start: 0x101000n, size: 0x1000n }, ...regions },
});

const REFUSALS: Refusal[] = [
  { why: 'unaligned RAM base', kernel: { ...ok32, sramBase: 0x100800n }, message: /CONFIG_SRAM_BASE_ADDRESS.*0x100800 is not 4 KiB aligned/ },
  { why: 'unaligned RAM size', kernel: { ...ok32, sramSizeKiB: 4097n }, message: /size 0x400400 .* not a multiple of 4 KiB/ },
  { why: 'no RAM', kernel: { ...ok32, sramSizeKiB: 0n }, message: /CONFIG_SRAM_SIZE is 0/ },
  { why: 'misaligned dual mapping', kernel: { ...okPae, kernelVmBase: 0x40200000n }, message: /misaligned/ },
  { why: 'XIP with a virtual base', kernel: { ...ok32, kernelVmBase: 0xc0100000n, xip: { flashBase: 0x1000000n, flashSizeKiB: 64n } }, message: /CONFIG_XIP cannot be combined/ },
  { why: 'flash overlapping RAM', kernel: { ...ok32, xip: { flashBase: 0x200000n, flashSizeKiB: 64n } }, message: /flash 0x200000-0x210000 overlaps RAM/ },
  { why: '32-bit RAM past 4 GiB', kernel: { ...ok32, sramBase: 0xffc00000n, sramSizeKiB: 8192n }, message: /RAM 0xffc00000-0x100400000 ends above 0x100000000/ },
  { why: 'PAE RAM past 4 GiB', kernel: { ...okPae, sramBase: 0xffe00000n, sramSizeKiB: 4096n }, message: /ends above 0x100000000/ },
  { why: 'IA-32e RAM in the high half (canonical, but identity needs virtual = physical)', kernel: { ...ok64, sramBase: 0xffff800000000000n, sramSizeKiB: 4n, kernelVmBase: 0xffff800000000000n, pagetablesStart: 0x100000n }, message: /RAM 0xffff800000000000-0xffff800000001000 ends above 0x800000000000/ },
  { why: 'IA-32e 4 MiB of RAM in the high half', kernel: { ...ok64, sramBase: 0xffff800000000000n, sramSizeKiB: 4096n, kernelVmBase: 0xffff800000000000n, pagetablesStart: 0x100000n }, message: /ends above 0x800000000000/ },
  { why: 'IA-32e XIP flash in the high half', kernel: { ...ok64, xip: { flashBase: 0xffff800000000000n, flashSizeKiB: 4n } }, message: /flash 0xffff800000000000-0xffff800000001000 ends above 0x800000000000/ },
  { why: 'tables larger than the size limit (4 TiB of RAM)', kernel: { ...ok64, sramBase: 0n, sramSizeKiB: 4n * 1024n ** 3n }, message: /the page tables would take 8606748672 bytes .* more than the limit of 1073741824 bytes; raise it with --max-tables-size/ },
  { why: 'IA-32e RAM past the lower canonical half', kernel: { ...ok64, sramBase: 0x7ffffff00000n, sramSizeKiB: 2048n }, message: /ends above 0x800000000000/ },
  { why: 'PAE dual window wrapping past the 4th PDPTE', kernel: { ...okPae, kernelVmBase: 0xc0100000n, pagetablesStart: 0xc0400000n, sramSizeKiB: 1024n * 1024n }, message: /dual mapping window 0xc0000000-0x140000000 .* leaves/ },
  { why: 'non-canonical IA-32e virtual base', kernel: { ...ok64, kernelVmBase: 0x800000100000n, pagetablesStart: 0x800000400000n }, message: /leaves the addresses/ },
  { why: 'dual window overlapping identity entries', kernel: { ...okPae, sramSizeKiB: 1024n * 1024n + 1024n, kernelVmBase: 0x40100000n, pagetablesStart: 0x40400000n }, message: /shares top-level entries with the identity mapping/ },
  { why: 'tables below physical 0', kernel: { ...ok32, kernelVmBase: 0xc0100000n, pagetablesStart: 0xbff00000n }, message: /z_x86_pagetables_start 0xbff00000 is at physical -0x100000/ },
  { why: 'unaligned tables', kernel: { ...ok32, pagetablesStart: 0x400800n }, message: /z_x86_pagetables_start 0x400800/ },
  { why: '32-bit tables past 4 GiB', kernel: { ...ok32, pagetablesStart: 0xfffff000n }, message: /page tables 0xfffff000-0x100002000 .* end above 0x100000000/ },
  { why: 'region unaligned', kernel: perms(ok32, { _image_text: { start: 0x100010n, size: 0x1000n } }), message: /region _image_text: base 0x100010/ },
  { why: 'region in an existing table but unmapped', kernel: perms(ok32, { _image_rodata: { start: 0x500000n, size: 0x1000n } }), message: /region _image_rodata 0x500000-0x501000: page 0x500000 is not mapped/ },
  { why: 'region with no table at all', kernel: perms(ok32, { _image_rodata: { start: 0x40000000n, size: 0x1000n } }), message: /page 0x40000000 is not mapped/ },
  { why: 'region straddling the end of RAM', kernel: perms(ok32, { _image_rodata: { start: 0x4ff000n, size: 0x2000n } }), message: /page 0x500000 is not mapped/ },
  { why: 'region in the rounded dual window past RAM', kernel: perms({ ...okPae, kernelVmBase: 0x40100000n, pagetablesStart: 0x40400000n }, { _image_rodata: { start: 0x40000000n, size: 0x1000n } }), message: /page 0x40000000 is not mapped by RAM or the dual mapping/ },
  { why: 'missing required symbol', kernel: { ...ok32, regionPermissions: true }, message: /missing required symbol _image_text_start \(CONFIG_SRAM_REGION_PERMISSIONS is set\)/ },
  { why: 'missing locore region', kernel: perms(ok64, {}), message: /missing required symbol _locore_start/ },
];

describe('refusals', () => {
  for (const refusal of REFUSALS) {
    it(`refuses ${refusal.why}`, () => {
      expect(() => generate(refusal.kernel)).toThrow(InputError);
      expect(() => generate(refusal.kernel)).toThrow(refusal.message);
      expect(() => generate(refusal.kernel, true)).toThrow(refusal.message);
    });
  }

  it('the tables-size limit: the exact size passes, one byte less refuses', () => {
    const kernel: KernelDescription = { ...ok64, sramBase: 0n, sramSizeKiB: 1024n * 1024n };
    const size = generate(kernel).bytes.length;
    expect(generateTables(symbolsOf(kernel), { maxTablesBytes: size }).bytes.length).toBe(size);
    expect(() => generateTables(symbolsOf(kernel), { maxTablesBytes: size - 1 })).toThrow(/more than the limit of/);
  });

  // The identity reach on each side of its edge: RAM or XIP flash ending exactly at the end of what the
  // mode can identity-map is built, one page further is refused.
  const REACH: readonly [KernelDescription['mode'], bigint][] = [['32bit', 1n << 32n], ['pae', 1n << 32n], ['ia32e', 1n << 47n]];
  for (const [mode, end] of REACH) {
    const base: KernelDescription = { mode, sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x400000n };
    const flashAt = (flashEnd: bigint): KernelDescription => ({ ...base, xip: { flashBase: flashEnd - 0x10000n, flashSizeKiB: 64n } });
    const ramAt = (ramEnd: bigint): KernelDescription => ({ ...base, sramBase: ramEnd - 0x10000n, kernelVmBase: ramEnd - 0x10000n });
    it(`${mode}: XIP flash ending at ${end.toString(16)} is mapped, a page further is refused`, () => {
      expect(generate(flashAt(end)).bytes.length).toBeGreaterThan(0);
      expect(() => generate(flashAt(end + 0x1000n))).toThrow(/flash .* ends above/);
    });
    it(`${mode}: RAM ending at ${end.toString(16)} is mapped, a page further is refused`, () => {
      expect(generate(ramAt(end)).bytes.length).toBeGreaterThan(0);
      expect(() => generate(ramAt(end + 0x1000n))).toThrow(/RAM .* ends above/);
    });
  }

  it('accepts empty XIP flash inside RAM: an empty span overlaps nothing', () => {
    expect(generate({ ...ok32, xip: { flashBase: 0x200000n, flashSizeKiB: 0n } }).bytes.length).toBe(generate(ok32).bytes.length);
  });

  it('accepts an empty region anywhere, even below 0: it changes no page; one page of it at the same place is refused', () => {
    const perms = (rodata: { start: bigint; size: bigint }): KernelDescription => ({
      mode: '32bit', sramBase: 0n, sramSizeKiB: 64n, pagetablesStart: 0x100000n, regionPermissions: true,
      regions: { _image_text: { start: 0x1000n, size: 0x1000n }, _image_rodata: rodata },
    });
    const inside = generate(perms({ start: 0x2000n, size: 0n })).bytes;
    expect(Buffer.from(generate(perms({ start: -0x1000n, size: 0n })).bytes).equals(Buffer.from(inside))).toBe(true);
    expect(Buffer.from(generate(perms({ start: 0x200000n, size: 0n })).bytes).equals(Buffer.from(inside))).toBe(true);
    expect(() => generate(perms({ start: 0x200000n, size: 0x1000n }))).toThrow(/region _image_rodata 0x200000-0x201000: page 0x200000 is not mapped/);
  });

  it('refuses a missing base symbol', () => {
    const symbols = symbolsOf(ok32);
    symbols.delete('CONFIG_KERNEL_VM_BASE');
    expect(() => generateTables(symbols)).toThrow(/missing required symbol CONFIG_KERNEL_VM_BASE/);
  });
});

describe('x86pt gen', () => {
  const dir = scratchDir();
  const kernel = writeKernel(dir, 'pae', GOLDEN_LAYOUTS['pae-identity-perms']!);

  it('writes the compat bytes with the reference\'s arguments (bare form)', async () => {
    const out = join(dir, 'bare.bin');
    const result = await x86pt(['-k', kernel, '-o', out]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('');
    expect(Buffer.from(readFileSync(out)).equals(Buffer.from(withFixedPdptes(readGolden('pae-identity-perms'))))).toBe(true);
    const compat = join(dir, 'compat.bin');
    expect((await x86pt(['gen', '--compat', '-k', kernel, '-o', compat])).exitCode).toBe(0);
    expect(Buffer.from(readFileSync(compat)).equals(Buffer.from(readGolden('pae-identity-perms')))).toBe(true);
  });

  it('prints what it built with -v and with VERBOSE', async () => {
    for (const [args, env] of [[['-v'], {}], [[], { VERBOSE: '1' }]] as const) {
      const result = await x86pt(['gen', ...args, '-k', kernel, '-o', join(dir, 'v.bin')], env);
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toMatch(/building PAE paging tables/);
      expect(result.stdout).toMatch(/new PD at physical 0x300000/);
      expect(result.stdout).toMatch(/region _image_text 0x100000-0x180000 \(512 KiB\): P US/);
      expect(result.stdout).toMatch(/top-level PDPT at physical 0x30[0-9a-f]{4}; \d+ tables/);
    }
  });

  it('refuses bad input with one line, exit 2, and leaves the output untouched', async () => {
    const out = join(dir, 'kept.bin');
    writeFileSync(out, 'previous');
    const bad = writeKernel(dir, 'bad', { ...ok32, sramSizeKiB: 4097n });
    const result = await x86pt(['gen', '-k', bad, '-o', out]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`${bad}: RAM`);
    expect(readFileSync(out, 'utf8')).toBe('previous');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reads kernels linked by GNU ld (--defsym) like a Zephyr build, high-half values included', async () => {
    for (const name of ['32bit-dual-perms', 'pae-dual-across-1gib', 'ia32e-high-half']) {
      const layout = GOLDEN_LAYOUTS[name]!;
      const elf = await linkKernel(elfClassOf(layout.mode), kernelSymbols(layout), dir);
      const out = join(dir, `${name}-ld.bin`);
      expect((await x86pt(['gen', '--compat', '-k', elf, '-o', out])).exitCode).toBe(0);
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(readGolden(name)))).toBe(true);
    }
  });

  it('refuses 4 TiB of RAM at once, one line, and --max-tables-size is the way to raise the limit', async () => {
    const huge = writeKernel(dir, 'huge', { ...ok64, sramBase: 0n, sramSizeKiB: 4n * 1024n ** 3n });
    const out = join(dir, 'huge.bin');
    const result = await x86pt(['-k', huge, '-o', out]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/more than the limit of 1073741824 bytes; raise it with --max-tables-size/);
    expect(existsSync(out)).toBe(false);
    const lowered = await x86pt(['-k', kernel, '-o', out, '--max-tables-size', '4K']);
    expect(lowered.exitCode).toBe(2);
    expect(lowered.stderr).toMatch(/more than the limit of 4096 bytes/);
    expect((await x86pt(['-k', kernel, '-o', out, '--max-tables-size', '1M'])).exitCode).toBe(0);
    expect((await x86pt(['-k', kernel, '-o', out, '--max-tables-size', 'lots'])).stderr).toMatch(/--max-tables-size lots: expected a byte count/);
  });

  it('names a missing kernel file, exit 2', async () => {
    const result = await x86pt(['gen', '-k', join(dir, 'nope.elf'), '-o', join(dir, 'x.bin')]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('nope.elf');
    expect(existsSync(join(dir, 'x.bin'))).toBe(false);
  });

  it('exits 2 on usage errors and 0 on --help', async () => {
    expect((await x86pt(['gen', '-k', kernel])).exitCode).toBe(2);
    expect((await x86pt(['frobnicate'])).exitCode).toBe(2);
    const help = await x86pt(['gen', '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('--compat');
    expect((await x86pt(['--help'])).exitCode).toBe(0);
  });
});
