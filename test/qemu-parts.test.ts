import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { mmuTranslations } from '../src/engines/qemu/mmu-dump.js';
import { planNextBoot } from '../src/engines/qemu/boot-plan.js';
import { planCase } from '../src/engines/qemu/case-plan.js';
import { bootOptions } from '../src/engines/qemu/harness.js';
import { DESCRIPTOR_FIELD_BYTES, STUB_ABI, type StubSymbol } from '../src/engines/qemu/stub-abi.js';
import { assembleStubObject, buildProbeStub, homeFootprint, imageLoadedAt, stubSourcePath } from '../src/engines/qemu/stub-build.js';
import { engineInput, IA32E_64MIB_LAYOUT } from './support/engine-layouts.js';
import { QEMU_LAYOUTS } from './support/qemu-layouts.js';

const PAGE = 4096n;

describe("reading QEMU's monitor", () => {
  it('takes the frame from `info tlb`, XD from its leaf flags, user and writable from `info mem`', () => {
    const tlb = [
      '0000000000100000: 0000000000100000 ----A--U-',
      '0000000000101000: 0000000000101000 ----A--U-',
      // PAE prints bit 63 (XD) in the physical column.
      '0000000000102000: 8000000000102000 X------UW',
      '0000000000200000: 0000000000400000 X-PDA---W',
      'ffff800040000000: 0000000040000000 X-P-----W',
    ].join('\r\n');
    const mem = [
      '0000000000100000-0000000000102000 0000000000002000 ur-',
      '0000000000102000-0000000000103000 0000000000001000 -rw',
      '0000000000200000-0000000000400000 0000000000200000 -rw',
      'ffff800040000000-ffff800080000000 0000000040000000 -rw',
    ].join('\r\n');
    expect(mmuTranslations('ia32e', tlb, mem)).toEqual([
      { virt: 0x100000n, phys: 0x100000n, size: 2n * PAGE, writable: false, user: true, executable: true },
      // info mem's combined U/S wins over the leaf's U.
      { virt: 0x102000n, phys: 0x102000n, size: PAGE, writable: true, user: false, executable: false },
      { virt: 0x200000n, phys: 0x400000n, size: 0x200000n, writable: true, user: false, executable: false },
      { virt: 0xffff800040000000n, phys: 0x40000000n, size: 0x40000000n, writable: true, user: false, executable: false },
    ]);
  });

  it('tells a 2 MiB page at a 1 GiB boundary from a 1 GiB page', () => {
    const tlb = '0000000040000000: 0000000000000000 --P-----W\n0000000040200000: 0000000000200000 --P-----W\n';
    const mem = '0000000040000000-0000000040400000 0000000000400000 -rw\n';
    expect(mmuTranslations('ia32e', tlb, mem)).toEqual([
      { virt: 0x40000000n, phys: 0n, size: 0x400000n, writable: true, user: false, executable: true },
    ]);
  });

  it('treats every page as executable in 32-bit paging', () => {
    const ranges = mmuTranslations('32bit', '00400000: 00400000 X-------W\n'.replace(/^/, '00000000'), '0000000000400000-0000000000401000 0000000000001000 -rw\n');
    expect(ranges).toEqual([{ virt: 0x400000n, phys: 0x400000n, size: PAGE, writable: true, user: false, executable: true }]);
  });
});

describe('planning a case', () => {
  it('probes every expected page and one page on each side, and signs every mapped page but the tables', () => {
    const input = engineInput(QEMU_LAYOUTS['pae-dual-perms']!);
    const plan = planCase(input);
    const probed = plan.probeRuns.map((r) => [r.start, BigInt(r.pages) * PAGE]);
    expect(probed).toEqual([
      [0xff000n, 0x202000n],
      [0x800ff000n, 0x202000n],
    ]);
    const tablesEnd = input.tablesPhys + BigInt(input.tables.length);
    const signed = plan.signRuns.map((r) => [r.start, r.start + BigInt(r.pages) * PAGE]);
    expect(signed).toEqual([
      [0x100000n, input.tablesPhys],
      [(tablesEnd + PAGE - 1n) & ~(PAGE - 1n), 0x300000n],
    ]);
    expect(plan.cr3).toBe(tablesEnd - 32n);
  });

  it('never probes past the canonical halves in IA-32e, nor past 4 GiB in 32-bit modes', () => {
    const alias = (virt: bigint) => ({ virt, phys: 0x100000n, size: PAGE, writable: false, user: true, executable: true });
    const ia32e = engineInput(QEMU_LAYOUTS['ia32e-identity-perms']!);
    const lowTop = (1n << 47n) - PAGE;
    const highBottom = 0xffff800000000000n;
    const runs = planCase({ ...ia32e, expected: [...ia32e.expected, alias(lowTop), alias(highBottom)] }).probeRuns;
    const spans = runs.map((r) => [r.start, r.start + BigInt(r.pages) * PAGE]);
    expect(spans.slice(-2)).toEqual([[lowTop - PAGE, 1n << 47n], [highBottom, highBottom + 2n * PAGE]]);

    const pae = engineInput(QEMU_LAYOUTS['pae-identity-perms']!);
    const paeRuns = planCase({ ...pae, expected: [...pae.expected, { ...alias(0xfffff000n), phys: 0x200000n }] }).probeRuns;
    const last = paeRuns[paeRuns.length - 1]!;
    expect([last.start, last.start + BigInt(last.pages) * PAGE]).toEqual([0xffffe000n, 1n << 32n]);
  });

  it('puts the stub on a user-executable text page and its context on supervisor data', () => {
    const plan = planCase(engineInput(QEMU_LAYOUTS['ia32e-high-half-perms']!));
    expect(plan.code.phys).toBe(0x100000n);
    expect(plan.code.runVirt).toBe(0xffff800000100000n);
    expect(plan.code.ringThree).toBe(true);
    expect(plan.context.phys).toBe(0x116000n);
    expect(plan.walkerAgrees).toBe(true);
  });
});

describe("a boot's time", () => {
  it('is a CPU-time budget that grows with the pages probed, signed and listed, the wall clock four times that', () => {
    const small = planCase(engineInput(QEMU_LAYOUTS['32bit-identity']!));
    const large = planCase(engineInput(IA32E_64MIB_LAYOUT));
    const one = bootOptions([small], {}, 1, 1);
    const two = bootOptions([small, large], {}, 3, 5);
    expect(one.cpuBudgetMs).toBeGreaterThan(10_000);
    expect(two.cpuBudgetMs! - one.cpuBudgetMs!).toBeGreaterThan(16_384 * 0.1);
    expect(two.timeoutMs).toBe(4 * two.cpuBudgetMs!);
    expect(two.budgetFor).toMatch(/^2 cases: \d+ pages probed, \d+ signed, \d+ listed by its MMU$/);
    expect(two.numbering).toEqual({ first: 3, total: 5 });
    // A limit given outright is a wall-clock limit, and the only one.
    const given = bootOptions([small], { timeoutMs: 5000 }, 1, 1);
    expect([given.timeoutMs, given.cpuBudgetMs]).toEqual([5000, undefined]);
  });
});

describe('the stub image', () => {
  it('is built once, runs at a case\'s code page from one page, and is loaded where the multiboot fields say', async () => {
    const stub = await buildProbeStub();
    expect(await buildProbeStub()).toBe(stub);
    const runnerBytes = new DataView(stub.image.buffer, stub.image.byteOffset).getUint32(STUB_ABI.IMAGE_RUNNER_BYTES, true);
    expect(runnerBytes).toBeLessThanOrEqual(4096);
    expect(runnerBytes).toBeGreaterThan(STUB_ABI.IMAGE_RUNNER_BYTES);
    expect(stub.image.length).toBeLessThanOrEqual(8192);
    const image = imageLoadedAt(stub, 0x500000, 0x504000);
    const view = new DataView(image.buffer);
    const word = (offset: number): number => view.getUint32(offset, true);
    expect(word(16)).toBe(0x1badb002);
    expect((word(16) + word(20) + word(24)) >>> 0).toBe(0);
    expect([word(28), word(32), word(36), word(40), word(44), word(48)]).toEqual([
      0x500010, 0x500000, 0x500000 + image.length, 0x500000 + image.length + 4096, 0x500000 + stub.entryOffset, 0x504000,
    ]);
    expect(homeFootprint(stub)).toBe((Math.ceil((stub.image.length + 4096) / 4096) + 1) * 4096);
  });
});

/** The assembled stub's symbols (absolute `.set` constants and labels), by name. */
async function stubSymbols(): Promise<Map<string, number>> {
  const work = mkdtempSync(join(tmpdir(), 'x86pt-stub-abi-'));
  try {
    const object = await assembleStubObject(stubSourcePath(), work);
    const { stdout } = await execa('nm', [object]);
    const symbols = new Map<string, number>();
    for (const line of stdout.split('\n')) {
      const m = /^([0-9a-f]+) [a-zA-Z] (\S+)$/.exec(line.trim());
      if (m) symbols.set(m[2]!, Number.parseInt(m[1]!, 16));
    }
    return symbols;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

describe("the stub's binary interface", () => {
  it('is what the assembled stub uses: every constant of the table, and no interface constant of its own', async () => {
    const symbols = await stubSymbols();
    const disagreements: string[] = [];
    for (const [name, value] of Object.entries(STUB_ABI)) {
      if (symbols.get(name) !== value) disagreements.push(`${name}: table 0x${value.toString(16)}, stub ${symbols.has(name) ? `0x${symbols.get(name)!.toString(16)}` : 'undefined'}`);
    }
    for (const name of symbols.keys()) {
      if (/^(S|D|C|O|F|IMAGE|MODE)_/.test(name) && !(name in STUB_ABI)) disagreements.push(`${name}: defined by the stub alone`);
    }
    expect(disagreements).toEqual([]);
    // The places the host patches, as labels of the image.
    expect([symbols.get('mb_header'), symbols.get('staging_ptr'), symbols.get('entry_offset')]).toEqual([
      STUB_ABI.IMAGE_MB_HEADER, STUB_ABI.IMAGE_STAGING_PTR, STUB_ABI.IMAGE_ENTRY_OFFSET,
    ]);
  });

  it('lays the descriptor out without overlaps, inside D_BYTES', () => {
    const fields = (Object.keys(STUB_ABI) as StubSymbol[])
      .filter((n) => n.startsWith('D_') && n !== 'D_BYTES')
      .map((n) => ({ n, at: STUB_ABI[n], bytes: DESCRIPTOR_FIELD_BYTES[n] ?? 4 }))
      .sort((a, b) => a.at - b.at);
    for (let i = 1; i < fields.length; i++) expect(fields[i]!.at, fields[i]!.n).toBeGreaterThanOrEqual(fields[i - 1]!.at + fields[i - 1]!.bytes);
    expect(fields[fields.length - 1]!.at + fields[fields.length - 1]!.bytes).toBeLessThanOrEqual(STUB_ABI.D_BYTES);
  });

  it("puts every field of a staging area where the stub's own symbols say the stub reads it", async () => {
    const [symbols, stub] = await Promise.all([stubSymbols(), buildProbeStub()]);
    const at = (name: string): number => symbols.get(name)!;
    const plan = planCase(engineInput(QEMU_LAYOUTS['ia32e-high-half-perms']!));
    const boot = planNextBoot([plan], stub);
    const view = new DataView(boot.staging.buffer);
    const u32 = (offset: number): number => view.getUint32(offset, true);
    const u64 = (offset: number): number => Number(view.getBigUint64(offset, true));
    expect(u32(at('S_MAGIC'))).toBe(at('STAGING_MAGIC'));
    expect(u32(at('S_COUNT'))).toBe(1);
    const d = u32(at('S_CASES')) - boot.stagingPhys;
    expect(u32(d + at('D_MODE'))).toBe(at('MODE_IA32E'));
    expect(u32(d + at('D_FLAGS'))).toBe(at('F_PAUSE') | at('F_TABLE_DIFF'));
    expect(u64(d + at('D_CR3'))).toBe(Number(plan.cr3));
    expect(u64(d + at('D_TABLES_PHYS'))).toBe(Number(plan.input.tablesPhys));
    expect(u32(d + at('D_TABLES_LEN'))).toBe(plan.input.tables.byteLength);
    const tables = u32(d + at('D_TABLES_SRC')) - boot.stagingPhys;
    expect(boot.staging.subarray(tables, tables + plan.input.tables.byteLength)).toEqual(plan.input.tables);
    expect(u64(d + at('D_CODE'))).toBe(Number(plan.code.phys));
    expect(u64(d + at('D_CTX'))).toBe(Number(plan.context.phys));
    expect(view.getBigUint64(d + at('D_DELTA'), true)).toBe(BigInt.asUintN(64, plan.code.runVirt - plan.code.phys));
    expect(u32(d + at('D_SIGN_COUNT'))).toBe(plan.signRuns.length);
    const sign = u32(d + at('D_SIGN_SRC')) - boot.stagingPhys;
    expect([u64(sign), u32(sign + 8)]).toEqual([Number(plan.signRuns[0]!.start), plan.signRuns[0]!.pages]);
    expect(u32(d + at('D_PROBE_COUNT'))).toBe(plan.probeRuns.length);
    const probe = u32(d + at('D_PROBE_SRC')) - boot.stagingPhys;
    expect(u32(d + at('D_SIGN_SRC')) + plan.signRuns.length * at('SIGN_RUN_BYTES')).toBe(u32(d + at('D_PROBE_SRC')));
    expect([view.getBigUint64(probe, true), u32(probe + 8)]).toEqual([plan.probeRuns[0]!.start, plan.probeRuns[0]!.pages]);
  });
});
