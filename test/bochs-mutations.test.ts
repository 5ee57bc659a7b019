/**
 * Single-bit mutations of paging-structure entries above the leaves, in every
 * mode, reserved bits included: the walker and Bochs each catch every one
 * with the fault the SDM names; QEMU and Unicorn catch what the catalogue
 * (src/engines/deviations.ts) says they can, and miss what it says they miss.
 * One Bochs boot per mode for the cases that leave the stub running; a case
 * that stops the stub costs a boot of its own.
 */
import { describe, expect, it } from 'vitest';
import type { KernelDescription } from '../src/elf/kernel.js';
import { compareRanges } from '../src/verify/compare.js';
import type { EngineInput, PagingMode } from '../src/verify/model.js';
import { topTablePhys } from '../src/verify/paging-modes.js';
import { walkTables } from '../src/verify/walker.js';
import { CPU_PROFILES, walkOptionsFor } from '../src/engines/cpu.js';
import { runBochsCases, type BochsReport } from '../src/engines/bochs/engine.js';
import { createQemuEngine } from '../src/engines/qemu/engine.js';
import { createUnicornEngine } from '../src/engines/unicorn/engine.js';
import { engineInput, region, withEntryBit } from './support/engine-layouts.js';

const CPU = CPU_PROFILES.tigerlake!;
const WALK = walkOptionsFor(CPU);
const MiB = 0x100000n;

/** Layouts spanning several directory entries, so that a broken one leaves the stub somewhere to run. */
const LAYOUTS: Record<PagingMode, KernelDescription> = {
  '32bit': { mode: '32bit', sramBase: MiB, sramSizeKiB: 8192n, pagetablesStart: 0x8f0000n, regionPermissions: true, regions: { _image_text: region(MiB, 0x10000n), _image_rodata: region(MiB + 0x10000n, 0x4000n) } },
  pae: { mode: 'pae', sramBase: 2n * MiB, sramSizeKiB: 4096n, pagetablesStart: 0x5f0000n, regionPermissions: true, regions: { _image_text: region(2n * MiB, 0x10000n), _image_rodata: region(2n * MiB + 0x10000n, 0x4000n) } },
  ia32e: {
    mode: 'ia32e', sramBase: MiB, sramSizeKiB: 4096n, pagetablesStart: 0x4f0000n, regionPermissions: true,
    regions: { _image_text: region(MiB, 0x10000n), _image_rodata: region(MiB + 0x10000n, 0x4000n), _locore: region(MiB + 0x14000n, 0x1000n), _lorodata: region(MiB + 0x15000n, 0x1000n) },
  },
};

const SHIFTS: Record<PagingMode, readonly number[]> = { '32bit': [22, 12], pae: [30, 21, 12], ia32e: [39, 30, 21, 12] };

/** Byte offsets of the entries on the walk of `virt`, from the top level down (the top-level table is the block's last). */
function chainOf(input: EngineInput, virt: bigint): number[] {
  const wide = input.mode !== '32bit';
  const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  const shifts = SHIFTS[input.mode];
  let table = Number(topTablePhys(input.mode, input.tablesPhys, input.tables.byteLength) - input.tablesPhys);
  const chain: number[] = [];
  for (const [depth, shift] of shifts.entries()) {
    const bits = input.mode === '32bit' ? 10 : depth === 0 && input.mode === 'pae' ? 2 : 9;
    const index = Number((virt >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
    const at = table + index * (wide ? 8 : 4);
    chain.push(at);
    const entry = wide ? view.getBigUint64(at, true) : BigInt(view.getUint32(at, true));
    if (depth > 0 && (entry & 0x80n) !== 0n) break;
    table = Number((entry & 0x000ffffffffff000n) - input.tablesPhys);
  }
  return chain;
}

type Expect =
  /** #GP(0) at the PDPTE load (PAE). */
  | 'gp-pdpte'
  /** #PF with P and RSVD on the pages under the entry. */
  | 'pf-rsvd'
  /** Nothing under the entry lets the stub run (a top-level entry): the stub stops. */
  | 'cannot-run'
  /** The entry still translates, differently (PS in a 32-bit PDE: a 4 MiB page). */
  | 'translation';

interface Mutation {
  readonly name: string;
  /** Depth of the entry on the walk of `virt` (0 = top). */
  readonly depth: number;
  readonly bit: number;
  readonly expect: Expect;
  /** What QEMU and Unicorn show (the catalogue's word): nothing, or the pages under the entry unmapped. */
  readonly tcg: 'unchecked' | 'unmapped' | 'cannot-run' | 'translation';
}

/** A data page in the second directory entry's span: the stub runs in the first. */
const VICTIM: Record<PagingMode, bigint> = { '32bit': 0x500000n, pae: 0x480000n, ia32e: 0x280000n };

const MUTATIONS: Record<PagingMode, readonly Mutation[]> = {
  '32bit': [
    { name: 'PDE PS (PSE on: a 4 MiB page out of the page table\'s address)', depth: 0, bit: 7, expect: 'translation', tcg: 'translation' },
  ],
  pae: [
    ...[1, 2, 5, 6, 7, 8].map((bit): Mutation => ({ name: `PDPTE reserved bit ${bit}`, depth: 0, bit, expect: 'gp-pdpte', tcg: 'unchecked' })),
    { name: 'PDPTE bit 45 (at or above MAXPHYADDR 40)', depth: 0, bit: 45, expect: 'gp-pdpte', tcg: 'cannot-run' },
    { name: 'PDPTE bit 63 (XD is reserved in a PAE PDPTE)', depth: 0, bit: 63, expect: 'gp-pdpte', tcg: 'cannot-run' },
    { name: 'PDE bit 45 (at or above MAXPHYADDR 40)', depth: 1, bit: 45, expect: 'pf-rsvd', tcg: 'unmapped' },
    { name: 'PDE PS (a 2 MiB page whose reserved bits 13-20 hold the page table\'s address)', depth: 1, bit: 7, expect: 'pf-rsvd', tcg: 'unmapped' },
  ],
  ia32e: [
    { name: 'PML4E PS (reserved in a PML4E)', depth: 0, bit: 7, expect: 'cannot-run', tcg: 'cannot-run' },
    { name: 'PDPTE bit 51 (at or above MAXPHYADDR 40)', depth: 1, bit: 51, expect: 'cannot-run', tcg: 'cannot-run' },
    { name: 'PDE bit 40 (MAXPHYADDR 40: the first reserved address bit)', depth: 2, bit: 40, expect: 'pf-rsvd', tcg: 'unmapped' },
    { name: 'PDE PS (a 2 MiB page whose reserved bits 13-20 hold the page table\'s address)', depth: 2, bit: 7, expect: 'pf-rsvd', tcg: 'unmapped' },
  ],
};

function mutants(mode: PagingMode): { clean: EngineInput; cases: { m: Mutation; input: EngineInput; entryAddr: bigint }[] } {
  const clean = engineInput(LAYOUTS[mode]);
  const chain = chainOf(clean, VICTIM[mode]);
  return {
    clean,
    cases: MUTATIONS[mode].map((m) => ({ m, input: withEntryBit(clean, chain[m.depth]!, m.bit), entryAddr: clean.tablesPhys + BigInt(chain[m.depth]!) })),
  };
}

/** The span under the entry at `depth` on the victim's walk. */
function spanUnder(mode: PagingMode, depth: number): { start: bigint; end: bigint } {
  const size = 1n << BigInt(SHIFTS[mode][depth]!);
  const start = (VICTIM[mode] / size) * size;
  return { start, end: start + size };
}

describe.each(['32bit', 'pae', 'ia32e'] as const)('%s: mutations above the leaves', (mode) => {
  const { clean, cases } = mutants(mode);

  it('the walker flags each with the rule the SDM names, at the mutated entry', () => {
    expect(walkTables(clean, WALK).violations).toEqual([]);
    for (const { m, input, entryAddr } of cases) {
      const walked = walkTables(input, WALK);
      if (m.expect === 'translation') {
        expect(walked.violations, m.name).toEqual([]);
        expect(compareRanges(clean.expected, walked.ranges, 'all').length, m.name).toBeGreaterThan(0);
        continue;
      }
      const at = walked.violations.filter((v) => v.entryAddr === entryAddr);
      expect(at.map((v) => /^reserved bits? /.test(v.message)), m.name).toEqual([true]);
      if (m.expect === 'gp-pdpte') expect(at[0]!.message, m.name).toMatch(/MOV to CR3 raises #GP\(0\)/);
      else expect(at[0]!.message, m.name).toMatch(/#PF with RSVD = 1/);
    }
  });

  it('Bochs raises the fault the SDM names for each', async () => {
    const results = await runBochsCases(cases.map((c) => c.input), CPU);
    results.forEach((r, i) => {
      const { m } = cases[i]!;
      expect(r.ok, m.name).toBe(true);
      const report = (r as { ok: true; report: BochsReport }).report;
      const own = report.violations.filter((v) => v.engine === 'bochs');
      if (m.expect === 'gp-pdpte') {
        expect(report.faults.map((f) => [f.vector, f.during]), m.name).toEqual([[13, 'paging-on']]);
        expect(own.map((v) => v.level), m.name).toEqual(['PDPTE']);
      } else if (m.expect === 'pf-rsvd') {
        const span = spanUnder(mode, m.depth);
        const rsvd = report.faults.filter((f) => f.vector === 14);
        expect(rsvd.length, m.name).toBeGreaterThan(0);
        // P and RSVD set (present entry, reserved bit), on pages under the entry only.
        expect(rsvd.every((f) => (f.errorCode & 0x9) === 0x9 && f.cr2 >= span.start && f.cr2 < span.end), m.name).toBe(true);
        expect(own.every((v) => /RSVD/.test(v.message)), m.name).toBe(true);
      } else if (m.expect === 'cannot-run') {
        expect(own.map((v) => /could not run/.test(v.message)), m.name).toEqual([true]);
      } else {
        expect(compareRanges(clean.expected, report.actual, report.coverage).length, m.name).toBeGreaterThan(0);
      }
    });
  });

  it('QEMU and Unicorn catch what the catalogue says they can, and miss the rest', async () => {
    const qemu = await createQemuEngine();
    const unicorn = await createUnicornEngine();
    const fromQemu = await qemu.runBatch(cases.map((c) => c.input));
    for (const [i, { m, input }] of cases.entries()) {
      const q = fromQemu[i]!;
      expect(q.ok, m.name).toBe(true);
      for (const report of [(q as { ok: true; report: import('../src/verify/model.js').EngineReport }).report, await unicorn.run(input)]) {
        const mismatches = compareRanges(clean.expected, report.actual, report.coverage);
        const label = `${report.engine}: ${m.name}`;
        if (m.tcg === 'unchecked') {
          expect([report.violations, mismatches], label).toEqual([[], []]);
        } else if (m.tcg === 'unmapped') {
          const span = spanUnder(mode, m.depth);
          expect(mismatches.length, label).toBeGreaterThan(0);
          expect(mismatches.every((x) => x.actual === null && x.virt >= span.start && x.virt + x.size <= span.end), label).toBe(true);
        } else if (m.tcg === 'cannot-run') {
          expect(report.violations.some((v) => /could not run/.test(v.message)), label).toBe(true);
        } else {
          expect(mismatches.length, label).toBeGreaterThan(0);
        }
      }
    }
  });
});

describe('XD with NXE off', () => {
  it('the walker flags a PDE\'s bit 63 as reserved on a CPU without NX, not with it; Bochs refuses the profile (the stub turns NXE on), in one line', async () => {
    const { clean } = mutants('pae');
    const chain = chainOf(clean, VICTIM.pae);
    const input = withEntryBit(clean, chain[1]!, 63);
    const entryAddr = clean.tablesPhys + BigInt(chain[1]!);
    expect(walkTables(input, WALK).violations).toEqual([]);
    const atom = walkTables(input, walkOptionsFor(CPU_PROFILES.atom!)).violations.filter((v) => v.entryAddr === entryAddr);
    expect(atom.map((v) => v.message)).toEqual([expect.stringMatching(/^reserved bit 63 set \(XD with IA32_EFER\.NXE = 0\)/)]);
    const [r] = await runBochsCases([input], CPU_PROFILES.atom!);
    expect(r!.ok).toBe(false);
    if (!r!.ok) expect(r!.error.message).toBe('bochs: the probe stub turns EFER.NXE on in pae mode; the atom_n270 model has no NX');
  });
});
