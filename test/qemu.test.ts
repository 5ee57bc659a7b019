import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import type { EngineInput, MappedRange } from '../src/verify/model.js';
import { compareRanges, mismatchKind, type Mismatch } from '../src/verify/compare.js';
import { mappedBytes } from '../src/verify/ranges.js';
import { createQemuEngine, type QemuEngine, type QemuReport } from '../src/engines/qemu/engine.js';
import { contextPagesFor, planCase } from '../src/engines/qemu/case-plan.js';
import { STUB_ABI } from '../src/engines/qemu/stub-abi.js';
import { runPlans } from '../src/engines/qemu/harness.js';
import { engineInput, HIGH_HALF, IA32E_64MIB_LAYOUT, withEntryBit } from './support/engine-layouts.js';
import { aliasesOf, directoryEntryAbove, entriesPointingAt, QEMU_LAYOUTS } from './support/qemu-layouts.js';

const PAGE = 4096n;
const LAYOUT_NAMES = Object.keys(QEMU_LAYOUTS);
const INPUTS: Readonly<Record<string, EngineInput>> = Object.fromEntries(LAYOUT_NAMES.map((n) => [n, engineInput(QEMU_LAYOUTS[n]!)]));

let engine: QemuEngine;
/** Reports of every layout, from one batch. */
const REPORTS: Record<string, QemuReport> = {};

beforeAll(async () => {
  engine = await createQemuEngine();
  const results = await engine.runBatch(LAYOUT_NAMES.map((n) => INPUTS[n]!));
  results.forEach((r, i) => {
    if (!r.ok) throw r.error;
    REPORTS[LAYOUT_NAMES[i]!] = r.report;
  });
});

const pagesIn = (ranges: readonly { size: bigint }[]): bigint => ranges.reduce((n, r) => n + r.size, 0n) / PAGE;
const covers = (spans: readonly { virt: bigint; size: bigint }[], virt: bigint): boolean =>
  spans.some((s) => virt >= s.virt && virt < s.virt + s.size);
const rangeAt = (ranges: readonly MappedRange[], virt: bigint): MappedRange | undefined =>
  ranges.find((r) => virt >= r.virt && virt < r.virt + r.size);

describe('the QEMU engine on generated tables', () => {
  it.each(LAYOUT_NAMES)('%s: the guest observes exactly the expected translation', (name) => {
    const report = REPORTS[name]!;
    const { expected } = INPUTS[name]!;
    expect(report.engine).toBe('qemu');
    expect(report.version).toMatch(/^\d+\.\d+/);
    expect(report.guestFailure).toBeNull();
    expect(compareRanges(expected, report.actual, report.coverage)).toEqual([]);
    // Every expected page was probed, and so were the pages just outside each range.
    for (const r of expected) {
      expect(covers(report.coverage, r.virt)).toBe(true);
      expect(covers(report.coverage, r.virt + r.size - PAGE)).toBe(true);
      if (r.virt >= PAGE) expect(covers(report.coverage, r.virt - PAGE)).toBe(true);
      expect(covers(report.coverage, r.virt + r.size)).toBe(true);
    }
    expect(mappedBytes(report.actual)).toBe(mappedBytes(expected));
  });

  it.each(LAYOUT_NAMES)("%s: QEMU's own MMU lists the same translation as the walker", (name) => {
    const report = REPORTS[name]!;
    expect(report.mmu.disagreements).toEqual([]);
    expect(mappedBytes(report.mmu.translations)).toBe(mappedBytes(INPUTS[name]!.expected));
  });

  it('runs from the dual mapping where the layout has one, as the kernel does', () => {
    for (const name of LAYOUT_NAMES) {
      const report = REPORTS[name]!;
      const dual = INPUTS[name]!.expected.some((r) => r.virt !== r.phys);
      // ranAt is what the guest computed from its own instruction pointer after the jump.
      expect(report.ranAt, name).toBe(report.sentTo);
      const ran = rangeAt(INPUTS[name]!.expected, report.ranAt!)!;
      expect(ran.executable, name).toBe(true);
      expect(ran.virt !== ran.phys, name).toBe(dual);
    }
    expect(REPORTS['ia32e-high-half-perms']!.ranAt! >= HIGH_HALF + 0x100000n).toBe(true);
    expect(REPORTS['32bit-dual-perms']!.ranAt! >= 0xc0400000n).toBe(true);
    expect(REPORTS['pae-dual-perms']!.ranAt! >= 0x80100000n).toBe(true);
  });

  it('checks user access from ring 3 when the code page is user-executable, with SMAP otherwise', () => {
    for (const name of LAYOUT_NAMES) {
      const perms = QEMU_LAYOUTS[name]!.regionPermissions === true;
      expect(REPORTS[name]!.userCheck, name).toBe(perms ? 'cpl3' : 'smap');
    }
    // The text region is user-readable and executable, data is neither, both as observed.
    const report = REPORTS['ia32e-identity-perms']!;
    expect(rangeAt(report.actual, 0x100000n)).toMatchObject({ user: true, writable: false, executable: true });
    expect(rangeAt(report.actual, 0x110000n)).toMatchObject({ user: true, writable: false, executable: false });
    expect(rangeAt(report.actual, 0x114000n)).toMatchObject({ user: false, writable: false, executable: true });
    expect(rangeAt(report.actual, 0x120000n)).toMatchObject({ user: false, writable: true, executable: false });
  });

  it('verifies a 64 MiB layout page by page in one boot', async () => {
    const input = engineInput(IA32E_64MIB_LAYOUT);
    const report = await engine.run(input);
    expect(report.guestFailure).toBeNull();
    expect(compareRanges(input.expected, report.actual, report.coverage)).toEqual([]);
    expect(pagesIn(report.coverage)).toBe(pagesIn(input.expected) + 2n);
    expect(report.mmu.disagreements).toEqual([]);
  });
});

interface Mutant {
  readonly layout: string;
  readonly what: string;
  /** Physical page whose leaf entry is changed. */
  readonly phys: bigint;
  readonly bit: number;
  readonly kind: ReturnType<typeof mismatchKind>;
  /** The permission or target the guest should see on that page afterwards. */
  readonly seen: (m: Mismatch) => boolean;
}

const DATA: Readonly<Record<string, bigint>> = {
  '32bit-identity-perms': 0x140000n,
  '32bit-dual-perms': 0x440000n,
  'pae-identity-perms': 0x240000n,
  'pae-dual-perms': 0x140000n,
  'ia32e-identity-perms': 0x140000n,
  'ia32e-high-half-perms': 0x140000n,
};
const TEXT: Readonly<Record<string, bigint>> = {
  '32bit-identity-perms': 0x104000n,
  '32bit-dual-perms': 0x404000n,
  'pae-identity-perms': 0x204000n,
  'pae-dual-perms': 0x104000n,
  'ia32e-identity-perms': 0x104000n,
  'ia32e-high-half-perms': 0x104000n,
};
const XD_BIT = 63;

const MUTANTS: readonly Mutant[] = Object.keys(DATA).flatMap((layout): Mutant[] => {
  const data = DATA[layout]!;
  const text = TEXT[layout]!;
  const wide = INPUTS[layout]!.mode !== '32bit';
  const list: Mutant[] = [
    { layout, what: 'data made read-only', phys: data, bit: 1, kind: 'permissions', seen: (m) => m.actual?.writable === false },
    { layout, what: 'data made user', phys: data, bit: 2, kind: 'permissions', seen: (m) => m.actual?.user === true },
    { layout, what: 'text made writable', phys: text, bit: 1, kind: 'permissions', seen: (m) => m.actual?.writable === true },
    { layout, what: 'data not present', phys: data, bit: 0, kind: 'missing', seen: (m) => m.actual === null },
    { layout, what: 'data frame bit 12 flipped', phys: data, bit: 12, kind: 'target', seen: (m) => m.actual?.phys === (m.expected!.phys ^ PAGE) },
  ];
  if (wide) {
    list.push(
      { layout, what: 'data made executable', phys: data, bit: XD_BIT, kind: 'permissions', seen: (m) => m.actual?.executable === true },
      { layout, what: 'text made no-execute', phys: text, bit: XD_BIT, kind: 'permissions', seen: (m) => m.actual?.executable === false },
    );
  }
  return list;
});

describe('leaf mutants', () => {
  const results: { mutant: Mutant; input: EngineInput; report: QemuReport }[] = [];

  beforeAll(async () => {
    const inputs = MUTANTS.map((mutant) => {
      const input = INPUTS[mutant.layout]!;
      const [offset, more] = entriesPointingAt(input, mutant.phys);
      if (offset === undefined || more !== undefined) throw new Error(`expected one leaf entry for ${mutant.phys}`);
      return withEntryBit(input, offset, mutant.bit);
    });
    const reports = await engine.runBatch(inputs);
    reports.forEach((r, i) => {
      if (!r.ok) throw r.error;
      results.push({ mutant: MUTANTS[i]!, input: inputs[i]!, report: r.report });
    });
  });

  it('catches every one at every alias of the page, and nowhere else', () => {
    expect(results).toHaveLength(MUTANTS.length);
    for (const { mutant, input, report } of results) {
      const label = `${mutant.layout}: ${mutant.what}`;
      expect(report.guestFailure, label).toBeNull();
      const mismatches = compareRanges(input.expected, report.actual, report.coverage);
      const aliases = aliasesOf(input.expected, mutant.phys);
      expect(aliases.length, label).toBe(input.expected.some((r) => r.virt !== r.phys) ? 2 : 1);
      expect(mismatches.map((m) => m.virt).sort(), label).toEqual([...aliases].sort());
      for (const m of mismatches) {
        expect(m.size, label).toBe(PAGE);
        expect(mismatchKind(m), label).toBe(mutant.kind);
        expect(mutant.seen(m), label).toBe(true);
      }
      // QEMU's MMU sees the mutant too, exactly as the walker does.
      expect(report.mmu.disagreements, label).toEqual([]);
    }
  });
});


describe('a non-leaf mutant', () => {
  it("XD in a page-directory entry: the guest's execute probes see it, QEMU's monitor cannot", async () => {
    const input = engineInput(IA32E_64MIB_LAYOUT);
    const text = 0x1000000n; // _image_text: exactly the 2 MiB one directory entry covers
    const report = await engine.run(withEntryBit(input, directoryEntryAbove(input, text + 0x4000n), XD_BIT));
    expect(report.guestFailure).toBeNull();
    // The stub left the text for the other executable page (locore, supervisor-only: user access checked with SMAP).
    expect(report.sentTo).toBe(0x1300000n);
    expect(report.userCheck).toBe('smap');
    const mismatches = compareRanges(input.expected, report.actual, report.coverage);
    expect(mismatches).toEqual([
      { virt: text, size: 0x200000n, expected: { phys: text, writable: false, user: true, executable: true }, actual: { phys: text, writable: false, user: true, executable: false } },
    ]);
    // The leaf has no XD, so the MMU dump says executable; that is no disagreement with the walker, which sees the PDE.
    expect(report.mmu.disagreements).toEqual([]);
    expect(rangeAt(report.mmu.translations, text)?.executable).toBe(true);
  });
});

describe('mutants that hit the stub itself', () => {
  it('the stub moves off a page the tables break, and the page is caught', async () => {
    const input = INPUTS['ia32e-identity-perms']!;
    const preferred = planCase(input).code.phys;
    const [offset] = entriesPointingAt(input, preferred);
    const report = await engine.run(withEntryBit(input, offset!, 0));
    expect(report.guestFailure).toBeNull();
    expect(report.sentTo).not.toBe(preferred);
    expect(compareRanges(input.expected, report.actual, report.coverage)).toEqual([
      { virt: preferred, size: PAGE, expected: { phys: preferred, writable: false, user: true, executable: true }, actual: null },
    ]);
  });

  it('when no page can host the stub, its death fails the verdict even where QEMU\'s MMU dump looks right', async () => {
    const input = INPUTS['ia32e-identity-perms']!;
    // All executable pages (text, locore) lie below 2 MiB: XD on that directory entry leaves none.
    const report = await engine.run(withEntryBit(input, directoryEntryAbove(input, 0x104000n), XD_BIT));
    expect(report.guestFailure).toMatch(/triple-faulted/);
    expect(report.ranAt).toBeNull();
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]).toMatchObject({ level: 'CR3', path: [] });
    expect(report.violations[0]!.message).toMatch(/could not run under these tables .*no page both should and does/);
  });

  it('when QEMU refuses a page the walker accepts, the death is reported as their disagreement', async () => {
    const input = INPUTS['ia32e-identity-perms']!;
    const plan = planCase(input);
    const [offset] = entriesPointingAt(input, plan.code.phys);
    // The plan was made (and the walker consulted) on the good tables; QEMU gets the broken ones.
    const broken = withEntryBit(input, offset!, 0);
    const [report] = await runPlans([{ ...plan, input: broken }]);
    expect(report!.guestFailure).toMatch(/triple-faulted/);
    expect(report!.violations[0]!.message).toMatch(/QEMU's CPU and the walker disagree/);
    // QEMU's MMU, the only witness left, shows the code page unmapped.
    expect(compareRanges(input.expected, report!.actual, report!.coverage)).toEqual([
      { virt: plan.code.phys, size: PAGE, expected: { phys: plan.code.phys, writable: false, user: true, executable: true }, actual: null },
    ]);
  });
});

describe('layouts QEMU cannot host', () => {
  it('refuses RAM that lies only in the device hole from 3 to 4 GiB, naming the hole and its reason code', async () => {
    const input = engineInput({ mode: 'pae', sramBase: 0xc0000000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n });
    await expect(engine.run(input)).rejects.toThrow(InputError);
    await expect(engine.run(input)).rejects.toThrow(/^mmio-hole: .*executable pages lie in QEMU microvm's device hole 0xc0000000-0x100000000/);
  });

  it('refuses a layout with no executable page for the stub', async () => {
    const input = engineInput({
      mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n, regionPermissions: true,
      regions: { _image_text: { start: 0x100000n, size: 0n }, _image_rodata: { start: 0x100000n, size: 0n } },
    });
    await expect(engine.run(input)).rejects.toThrow(/no page outside the tables is identity-mapped executable/);
  });

  it('reports a refusal per case in a batch and still runs the others', async () => {
    const bad = engineInput({ mode: '32bit', sramBase: 0xc0000000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n });
    const good = INPUTS['32bit-identity']!;
    const [first, second] = await engine.runBatch([bad, good]);
    expect(first!.ok).toBe(false);
    expect(!first!.ok && first!.error).toBeInstanceOf(InputError);
    expect(second!.ok && compareRanges(good.expected, second!.report.actual, second!.report.coverage)).toEqual([]);
  });
});

describe('QEMU failing', () => {
  const BATCH = ['32bit-identity', 'pae-identity-perms', 'ia32e-identity-perms'];
  const failureOf = (run: Promise<unknown>): Promise<Error | null> => run.then(() => null, (err: unknown) => err as Error);

  it('leaves no temporary directory after a boot that went well', async () => {
    const dirs: string[] = [];
    const watched = await createQemuEngine({ onCaseStart: (start) => dirs.push(start.dir) });
    const results = await watched.runBatch(BATCH.map((n) => INPUTS[n]!));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(dirs.length).toBe(BATCH.length);
    expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
  });

  it('killed mid-run: the engine fails (bad-input class, exit 2), naming the signal and the case, and removes its directory', async () => {
    let dir = '';
    const killer = await createQemuEngine({
      onCaseStart: (start) => {
        if (start.case !== 2) return;
        dir = start.dir;
        process.kill(start.pid, 'SIGKILL');
      },
    });
    const err = await failureOf(killer.runBatch(BATCH.map((n) => INPUTS[n]!)));
    expect(err).toBeInstanceOf(InputError);
    expect(err!.message).toBe('qemu: QEMU was killed by SIGKILL while probing case 2 of 3');
    expect(dir).not.toBe('');
    expect(existsSync(dir)).toBe(false);
  });

  it('stopped: the engine fails once QMP goes unanswered for the time it is given, and removes its directory', async () => {
    let dir = '';
    let pid = 0;
    // The boot's own limit is far off: what ends the run is the liveness check over QMP.
    const stopper = await createQemuEngine({
      timeoutMs: 600_000,
      qmpTimeoutMs: 1500,
      onCaseStart: (start) => {
        ({ dir, pid } = start);
        process.kill(start.pid, 'SIGSTOP');
      },
    });
    const err = await failureOf(stopper.run(INPUTS['ia32e-identity-perms']!));
    expect(err).toBeInstanceOf(InputError);
    expect(err!.message).toMatch(/^qemu: QEMU did not answer QMP for 1\.5 s \((query-status|info tlb|info mem|inject-nmi)\) while probing case 1 of 1$/);
    expect(existsSync(dir)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow(); // the stopped QEMU was ended, not left behind
  });

  it("out of CPU time: the engine fails naming QEMU's CPU budget", async () => {
    // A case that keeps QEMU busy for many of /proc's 10 ms ticks, so the budget is seen exceeded before the case ends.
    const err = await failureOf((await createQemuEngine({ cpuBudgetMs: 1, timeoutMs: 600_000 })).run(engineInput(IA32E_64MIB_LAYOUT)));
    expect(err).toBeInstanceOf(InputError);
    expect(err!.message).toMatch(/^qemu: QEMU did not finish in 1 ms of CPU time \(its budget for 1 case: .*\) while (booting for|probing) case 1 of 1$/);
  });

  it('out of time: the engine fails naming what timed out and the budget it had', async () => {
    const err = await failureOf((await createQemuEngine({ timeoutMs: 1 })).run(INPUTS['32bit-identity']!));
    expect(err).toBeInstanceOf(InputError);
    expect(err!.message).toMatch(/^qemu: QEMU did not finish within 1 ms \(its budget for 1 case: \d+ pages probed, \d+ signed, \d+ listed by its MMU\) while (booting for|probing) case 1 of 1$/);
  });
});

describe('a layout with a single writable page for the stub\'s context', () => {
  // PAE, region permissions: text 0x100000-0x102000 (RX), rodata 0x102000-0x104000 (R), one data page at 0x104000, then the tables.
  const kernel = {
    mode: 'pae' as const, sramBase: 0x100000n, sramSizeKiB: 32n, pagetablesStart: 0x105000n, regionPermissions: true,
    regions: { _image_text: { start: 0x100000n, size: 0x2000n }, _image_rodata: { start: 0x102000n, size: 0x2000n } },
  };
  const DATA = 0x104000n;

  it('puts the whole context (variables, descriptor tables, stacks, probe runs) in that page, and a second page only for more runs', () => {
    const input = engineInput(kernel);
    // Writable: the data page, then the tables up to the end of RAM.
    expect(input.tablesPhys).toBe(DATA + PAGE);
    expect(input.expected.filter((r) => r.writable).map((r) => [r.phys, r.size])).toEqual([[DATA, 0x108000n - DATA]]);
    const plan = planCase(input);
    expect(plan.context).toEqual({ phys: DATA, pages: 1 });
    const firstPage = (4096 - STUB_ABI.C_RUNS_START) / STUB_ABI.PROBE_RUN_BYTES;
    expect(contextPagesFor(firstPage)).toBe(1);
    expect(contextPagesFor(firstPage + 1)).toBe(2);
    // The stacks lie below the runs, above the IDT's 33 gates of 16 bytes.
    expect(STUB_ABI.C_IDT + 33 * 16).toBeLessThanOrEqual(STUB_ABI.C_ISTACK_TOP - 0x200);
    expect(STUB_ABI.C_STACK_TOP).toBeLessThanOrEqual(STUB_ABI.C_RUNS_START);
  });

  it('verifies it, and catches a flipped bit of another page there', async () => {
    const input = engineInput(kernel);
    const clean = await engine.run(input);
    expect(clean.guestFailure).toBeNull();
    expect(clean.violations).toEqual([]);
    expect(compareRanges(input.expected, clean.actual, clean.coverage)).toEqual([]);
    const [leaf] = entriesPointingAt(input, 0x103000n);
    const mutant = await engine.run(withEntryBit(input, leaf!, 1)); // rodata made writable
    expect(compareRanges(input.expected, mutant.actual, mutant.coverage)).toEqual([
      { virt: 0x103000n, size: PAGE, expected: expect.objectContaining({ writable: false }), actual: expect.objectContaining({ phys: 0x103000n, writable: true }) },
    ]);
  });

  it('when the tables make that page read-only, the stub dies and the verdict fails, without hanging', async () => {
    const input = engineInput(kernel);
    const [leaf] = entriesPointingAt(input, DATA);
    const report = await engine.run(withEntryBit(input, leaf!, 1));
    expect(report.guestFailure).toMatch(/triple-faulted|exception/);
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]!.message).toMatch(/could not run under these tables .*no page both should and does/);
  });

  it('still refuses a layout with no writable page outside the tables, with its reason code', () => {
    const input = engineInput({ ...kernel, regions: { ...kernel.regions, _image_rodata: { start: 0x102000n, size: 0x3000n } } });
    expect(input.expected.some((r) => r.writable && r.phys < 0x105000n)).toBe(false);
    expect(() => planCase(input)).toThrow(/^no-context-pages: no page outside the tables is identity-mapped writable in memory QEMU can back/);
  });
});

describe('a layout whose only writable page outside the tables is a user page', () => {
  // PAE, region permissions with userspace: text and rodata user, a user-writable __gcov_bss page at 0x103000, then the tables.
  const kernel = {
    mode: 'pae' as const, sramBase: 0x100000n, sramSizeKiB: 28n, pagetablesStart: 0x104000n, regionPermissions: true, userspace: true, coverageGcov: true,
    regions: { _image_text: { start: 0x100000n, size: 0x2000n }, _image_rodata: { start: 0x102000n, size: 0x1000n }, __gcov_bss: { start: 0x103000n, size: 0x1000n } },
  };
  const BSS = 0x103000n;

  it('hosts the context there where the probes drop to ring 3 (no SMAP to fault the stub on it), and catches a flipped bit', async () => {
    const input = engineInput(kernel);
    expect(input.expected.filter((r) => r.writable && r.phys < input.tablesPhys)).toEqual([expect.objectContaining({ phys: BSS, size: PAGE, user: true })]);
    const plan = planCase(input);
    expect(plan.code.ringThree).toBe(true);
    expect(plan.context).toEqual({ phys: BSS, pages: 1 });
    const clean = await engine.run(input);
    expect(clean.guestFailure).toBeNull();
    expect(clean.userCheck).toBe('cpl3');
    expect(compareRanges(input.expected, clean.actual, clean.coverage)).toEqual([]);
    const [leaf] = entriesPointingAt(input, 0x102000n);
    const mutant = await engine.run(withEntryBit(input, leaf!, 2)); // rodata made supervisor-only
    expect(compareRanges(input.expected, mutant.actual, mutant.coverage)).toEqual([
      { virt: 0x102000n, size: PAGE, expected: expect.objectContaining({ user: true }), actual: expect.objectContaining({ phys: 0x102000n, user: false }) },
    ]);
  });

  it('refuses it where the tables leave no user-executable code page: SMAP then checks the user bit, and would fault the stub on a user page', () => {
    const input = engineInput(kernel);
    const supervisorText = [0x100000n, 0x101000n].reduce((t, page) => withEntryBit(t, entriesPointingAt(t, page)[0]!, 2), input);
    expect(() => planCase(supervisorText)).toThrow(/^no-context-pages: no page outside the tables is identity-mapped writable and supervisor-only/);
  });
});
