import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkTables, RefusedLayoutError } from '../src/verify/check.js';
import { specFromSymbols } from '../src/verify/spec.js';
import { walkTables } from '../src/verify/walker.js';
import type { Engine, EngineReport } from '../src/verify/model.js';
import { createWalkerEngine } from '../src/engines/walker.js';
import { loadEngine } from '../src/engines/index.js';
import type { KernelDescription } from '../src/elf/kernel.js';
import { InputError } from '../src/core/errors.js';
import { generateTables } from '../src/gen/generate.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { generate, SMALL_LAYOUTS, symbolsOf } from './support/verify-kernels.js';

const LAYOUTS = { ...SMALL_LAYOUTS, ...GOLDEN_LAYOUTS };

describe('generated tables verify', () => {
  for (const [name, kernel] of Object.entries(LAYOUTS)) {
    it(`${name}: the generator's default output does what the kernel asks`, async () => {
      const tables = generate(kernel);
      const result = await checkTables({ symbols: symbolsOf(kernel), tables: tables.bytes });
      expect(result.mismatches).toEqual([]);
      expect(result.violations).toEqual([]);
      expect(result.blockProblems).toEqual([]);
      expect(result.ok).toBe(true);
      expect(result).toMatchObject({ engine: 'walker', mode: kernel.mode, tablesPhys: tables.tablesPhys });
      expect(result.expected.length).toBeGreaterThan(0);
    });
  }

  it('the walker engine loads by name and covers everything', async () => {
    const engine = await loadEngine('walker');
    expect(engine.name).toBe('walker');
    const kernel = SMALL_LAYOUTS['pae-dual-perms']!;
    const spec = specFromSymbols(symbolsOf(kernel));
    if (!spec.valid) throw new Error('refused');
    const report = await engine.run({ mode: spec.mode, tables: generate(kernel).bytes, tablesPhys: spec.tablesPhys, expected: spec.expected });
    expect(report).toMatchObject({ engine: 'walker', coverage: 'all', violations: [] });
    expect(report.actual).toEqual(spec.expected);
  });
});

describe('--compat output in PAE', () => {
  for (const [name, kernel] of Object.entries(LAYOUTS).filter(([, k]) => k.mode === 'pae')) {
    it(`${name}: flagged for R/W and U/S in every present PDPTE, default output not`, async () => {
      const symbols = symbolsOf(kernel);
      const compat = generate(kernel, true);
      const result = await checkTables({ symbols, tables: compat.bytes });
      expect(result.ok).toBe(false);
      const present = [0, 1, 2, 3].filter((i) => compat.bytes[compat.bytes.length - 32 + i * 8]! & 1);
      expect(result.violations.map((v) => [v.level, v.path, v.entryAddr])).toEqual(
        present.map((i) => ['PDPTE', [i], compat.topLevelPhys + BigInt(i * 8)]));
      for (const v of result.violations) expect(v.message).toMatch(/reserved bits 1-2 .*#GP\(0\)/);
      expect((await checkTables({ symbols, tables: generate(kernel).bytes })).violations).toEqual([]);
    });
  }

  it('in 32-bit and IA-32e paging, --compat output verifies too', async () => {
    for (const kernel of Object.values(LAYOUTS).filter((k) => k.mode !== 'pae')) {
      expect((await checkTables({ symbols: symbolsOf(kernel), tables: generate(kernel, true).bytes })).ok).toBe(true);
    }
  });
});

describe('what else verify catches', () => {
  const kernel = SMALL_LAYOUTS['ia32e-identity-kpti']!;
  const symbols = symbolsOf(kernel);
  const tables = generate(kernel).bytes;

  it('a block of the wrong size for the layout', async () => {
    const longer = new Uint8Array(tables.length + 4096);
    longer.set(tables.subarray(0, tables.length - 4096));
    longer.set(tables.subarray(tables.length - 4096), tables.length);
    const result = await checkTables({ symbols, tables: longer });
    expect(result.ok).toBe(false);
    expect(result.blockProblems).toEqual([expect.stringMatching(/is \d+ bytes; the layout needs \d+/)]);
  });

  it('a refused layout is bad input, with the reasons', async () => {
    const refused = symbolsOf({ ...kernel, sramBase: 0x100800n });
    await expect(checkTables({ symbols: refused, tables })).rejects.toThrow(RefusedLayoutError);
    await expect(checkTables({ symbols: refused, tables })).rejects.toThrow(/CONFIG_SRAM_BASE_ADDRESS 0x100800 is not 4 KiB aligned/);
    // The reason names the rule it breaks; the error lists the rules too.
    await expect(checkTables({ symbols: refused, tables })).rejects.toThrow(/is not 4 KiB aligned \(rule not-page-aligned\)/);
    await expect(checkTables({ symbols: refused, tables })).rejects.toMatchObject({ rules: ['not-page-aligned'] });
  });

  it('a block that cannot be tables of the mode is bad input', async () => {
    await expect(checkTables({ symbols, tables: tables.subarray(0, 100) })).rejects.toThrow(InputError);
  });

  it('with another engine: compares only over its coverage, and always adds the walker\'s violations', async () => {
    const pae = SMALL_LAYOUTS['pae-identity-perms']!;
    const compat = generate(pae, true).bytes;
    const spec = specFromSymbols(symbolsOf(pae));
    if (!spec.valid) throw new Error('refused');
    // An emulator-like engine: sees through the reserved PDPTE bits, probes two pages, one of them wrongly.
    const probed = spec.expected[0]!;
    const engine: Engine = {
      name: 'probe',
      async run(): Promise<EngineReport> {
        return {
          engine: 'probe', version: '0',
          actual: [{ ...probed, size: 0x1000n }, { ...probed, virt: probed.virt + 0x1000n, phys: probed.phys + 0x2000n, size: 0x1000n }],
          coverage: [{ virt: probed.virt, size: 0x2000n }],
          violations: [],
        };
      },
    };
    const result = await checkTables({ symbols: symbolsOf(pae), tables: compat, engine });
    expect(result).toMatchObject({ engine: 'probe', version: '0', ok: false });
    expect(result.mismatches).toEqual([{
      virt: probed.virt + 0x1000n, size: 0x1000n,
      expected: { phys: probed.phys + 0x1000n, writable: probed.writable, user: probed.user, executable: probed.executable },
      actual: { phys: probed.phys + 0x2000n, writable: probed.writable, user: probed.user, executable: probed.executable },
    }]);
    expect(result.violations.map((v) => v.level)).toEqual(['PDPTE']);
  });

  it('walker options reach the walker engine and the architectural checks', async () => {
    const engine = await createWalkerEngine({ nxe: false });
    const result = await checkTables({ symbols, tables, engine, walkOptions: { nxe: false } });
    expect(result.ok).toBe(false);
    expect(result.violations.some((v) => /XD with IA32_EFER.NXE = 0/.test(v.message))).toBe(true);
  });
});

/** Random small layouts around the interesting boundaries; many of them are refused. */
const randomKernel: fc.Arbitrary<KernelDescription> = fc.record({
  mode: fc.constantFrom('32bit', 'pae', 'ia32e') as fc.Arbitrary<KernelDescription['mode']>,
  topEntry: fc.integer({ min: 0, max: 3 }),
  ramOffsetPages: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2048 }), fc.integer({ min: -4, max: -1 })),
  ramPages: fc.integer({ min: 0, max: 1100 }),
  oddSize: fc.boolean().chain((b) => (b ? fc.boolean() : fc.constant(false))),
  dual: fc.constantFrom('none', 'none', 'aligned', 'aligned', 'high', 'misaligned'),
  windowEntry: fc.integer({ min: 0, max: 3 }),
  perms: fc.boolean(),
  textPages: fc.tuple(fc.integer({ min: -2, max: 40 }), fc.integer({ min: 0, max: 16 })),
  rodataPages: fc.tuple(fc.integer({ min: -2, max: 40 }), fc.integer({ min: 0, max: 16 })),
  textInWindow: fc.boolean(),
  // Flash of at least a page: whether an empty flash span inside RAM "overlaps" it is left out here.
  xip: fc.option(fc.tuple(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 1, max: 64 })), { freq: 4 }),
  tablesGapPages: fc.integer({ min: 0, max: 16 }),
}).map((r): KernelDescription => {
  const scope = r.mode === '32bit' ? 1n << 22n : r.mode === 'pae' ? 1n << 30n : 1n << 39n;
  const pages = (n: number): bigint => BigInt(n) * 4096n;
  let sramBase = BigInt(r.topEntry) * scope + pages(r.ramOffsetPages);
  if (sramBase < 0n) sramBase = 0n;
  const sramSizeKiB = BigInt(r.ramPages) * 4n + (r.oddSize ? 2n : 0n);
  const ramEnd = sramBase + sramSizeKiB * 1024n;
  const windowBase = r.mode === 'ia32e' && r.dual === 'high' ? 0xffff800000000000n : 0n;
  const kernelVmBase = r.dual === 'none' ? sramBase
    : r.dual === 'misaligned' ? sramBase + scope * 2n + 0x1000n
      : windowBase + BigInt(r.windowEntry + (r.dual === 'high' && r.mode !== 'ia32e' ? 2 : 0)) * scope + (sramBase % scope);
  const delta = kernelVmBase - sramBase;
  const region = ([at, count]: [number, number], inWindow: boolean) => ({ start: sramBase + pages(at) + (inWindow ? delta : 0n), size: pages(count) });
  return {
    mode: r.mode, sramBase, sramSizeKiB, kernelVmBase,
    pagetablesStart: ramEnd + pages(r.tablesGapPages) + delta,
    regionPermissions: r.perms,
    regions: {
      _image_text: region(r.textPages, r.textInWindow), _image_rodata: region(r.rodataPages, false),
      ...(r.mode === 'ia32e' ? { _locore: region([0, 1], false), _lorodata: region([1, 1], r.textInWindow) } : {}),
    },
    ...(r.xip ? { xip: { flashBase: pages(r.xip[0]), flashSizeKiB: BigInt(r.xip[1]) * 4n } } : {}),
  };
});

describe('the spec and the generator agree on random layouts', () => {
  it('both refuse the same layouts; whatever is generated verifies, at the size the spec computes', async () => {
    let valid = 0;
    await fc.assert(fc.asyncProperty(randomKernel, async (kernel) => {
      const symbols = symbolsOf(kernel);
      const spec = specFromSymbols(symbols);
      let generated;
      try {
        generated = generateTables(symbols);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        expect(spec.valid, `generator refused (${err.message}) but the spec accepts`).toBe(false);
        return;
      }
      expect(spec.valid ? [] : spec.reasons, 'the spec refuses what the generator built').toEqual([]);
      if (!spec.valid) return;
      valid++;
      expect(BigInt(generated.bytes.length)).toBe(spec.tableBytes);
      expect(generated.tableCount).toBe(spec.tableCount);
      const result = await checkTables({ symbols, tables: generated.bytes });
      expect(result.mismatches).toEqual([]);
      expect(result.violations).toEqual([]);
      expect(result.ok).toBe(true);
      // The walker's view of the block matches the spec's expected ranges exactly (both maximal).
      expect(walkTables({ mode: spec.mode, tables: generated.bytes, tablesPhys: spec.tablesPhys }).ranges).toEqual(spec.expected);
    }), { numRuns: 400 });
    expect(valid).toBeGreaterThan(40);
  });
});
