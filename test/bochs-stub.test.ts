import { describe, expect, it } from 'vitest';
import type { MappedRange } from '../src/verify/model.js';
import { compareRanges, type Mismatch } from '../src/verify/compare.js';
import { mappedBytes } from '../src/verify/ranges.js';
import { planNextBoot } from '../src/engines/qemu/boot-plan.js';
import { planCase, type CasePlan } from '../src/engines/qemu/case-plan.js';
import { observedTranslations, parseGuestCase } from '../src/engines/qemu/case-report.js';
import { buildProbeStub, imageLoadedAt } from '../src/engines/qemu/stub-build.js';
import type { CpuProfile } from '../src/engines/bochs/cpu-profile.js';
import { runMultiboot } from '../src/engines/bochs/harness.js';
import { multibootLoad, BOOTLOADER_MAGIC } from '../src/engines/bochs/multiboot.js';
import { engineInput, ENGINE_LAYOUTS, withEntryBit } from './support/engine-layouts.js';
import { entriesPointingAt } from './support/qemu-layouts.js';
import type { EngineInput } from '../src/verify/model.js';
import { STUB_ABI } from '../src/engines/qemu/stub-abi.js';

const TIGERLAKE: CpuProfile = { maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, smep: true, smap: true };
/** Descriptor flag 1 asks the stub to halt for QEMU's MMU dump and an NMI; Bochs's run goes on without. */
const FLAG_PAUSE = STUB_ABI.F_PAUSE;
const DESCRIPTORS = STUB_ABI.S_BYTES;
const DESCRIPTOR_BYTES = STUB_ABI.D_BYTES;

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

describe('multiboot loading', () => {
  it('places the stub where its address fields say, zeroes its bss, and enters with the multiboot registers', async () => {
    const stub = await buildProbeStub();
    const image = imageLoadedAt(stub, 0x300000, 0x400000);
    const load = multibootLoad(image, { infoPhys: 0x9000, memoryBytes: 64 << 20 });
    expect(load.blobs[0]!.phys).toBe(0x300000);
    expect(Array.from(load.blobs[0]!.bytes)).toEqual(Array.from(image));
    expect(load.zero).toEqual([{ phys: 0x300000 + image.byteLength, length: 4096 }]);
    expect(load.entry).toEqual({ eip: 0x300000 + stub.entryOffset, eax: BOOTLOADER_MAGIC, ebx: 0x9000, esp: 0x9000 });
    const info = new DataView(load.blobs[1]!.bytes.buffer, load.blobs[1]!.bytes.byteOffset);
    expect([info.getUint32(0, true), info.getUint32(4, true), info.getUint32(8, true)]).toEqual([1, 640, (64 << 10) - 1024]);
  });

  it('refuses an image without a multiboot header, and one whose entry lies outside it', async () => {
    expect(() => multibootLoad(new Uint8Array(64), { infoPhys: 0x9000, memoryBytes: 1 << 25 })).toThrow(/no multiboot header/);
    const stub = await buildProbeStub();
    const image = imageLoadedAt(stub, 0x300000, 0x400000);
    new DataView(image.buffer).setUint32(16 + 28, 0x500000, true);
    expect(() => multibootLoad(image, { infoPhys: 0x9000, memoryBytes: 1 << 25 })).toThrow(/entry_addr 0x500000 is outside/);
  });
});

/** Cases in one boot of the stub, run until it reports the end or an exception. */
async function runStub(inputs: readonly EngineInput[]) {
  const stub = await buildProbeStub();
  const plans = inputs.map((input) => planCase(input));
  const boot = planNextBoot(plans, stub);
  expect(boot.cases.length).toBe(plans.length);
  const staging = boot.staging.slice();
  const view = new DataView(staging.buffer);
  plans.forEach((_, i) => {
    const flags = DESCRIPTORS + DESCRIPTOR_BYTES * i + 4;
    view.setUint32(flags, view.getUint32(flags, true) & ~FLAG_PAUSE, true);
  });
  const result = await runMultiboot({
    image: imageLoadedAt(stub, boot.homePhys, boot.stagingPhys),
    extra: [{ phys: boot.stagingPhys, bytes: staging }],
    profile: TIGERLAKE,
    memoryBytes: Number(boot.memoryBytes),
    timeoutMs: 30_000,
    // The stub ends with an I/O write to QEMU's isa-debug-exit and a halt: 'z' (or an exception line) is the end.
    stopAtLine: (line) => line === 'z' || line.startsWith('x '),
  });
  return { plans, exit: result.exit, lines: text(result.console).split('\n').filter((l) => l !== '') };
}

/** The case's lines (after its 'c' line) show it finished where it was sent and observed exactly the expected translation. */
function expectObserved(plan: CasePlan, caseLines: readonly string[]): void {
  expect(caseLines.filter((l) => l.startsWith('x '))).toEqual([]);
  const guest = parseGuestCase(caseLines);
  expect(guest.finished).toBe(true);
  expect(guest.ranAt).toBe(plan.code.runVirt);
  const none: MappedRange[] = [];
  const seen = observedTranslations(plan, guest, none);
  // The stub executes only its signed `ret`s: unsigned pages (the tables') carry no executability.
  const signedOnly = (r: MappedRange) => ({ ...r, executable: false });
  expect(compareRanges(plan.input.expected.map(signedOnly), seen.map(signedOnly), plan.coverage)).toEqual([]);
  expect(mappedBytes(seen)).toBe(mappedBytes(plan.input.expected));
}

describe('the QEMU probe stub, booted by the Bochs loader as a multiboot kernel', () => {
  const names = ['32bit-identity', 'pae-identity-perms', 'ia32e-identity-perms', 'ia32e-high-half-perms'] as const;
  it.each(names)('%s: runs its case and observes the expected translation', async (name) => {
    const { plans, lines, exit } = await runStub([engineInput(ENGINE_LAYOUTS[name])]);
    expect(exit).toEqual({ kind: 'stopped' });
    expect(lines[0]).toBe('c 00000000');
    expect(lines.at(-1)).toBe('z');
    expectObserved(plans[0]!, lines.slice(1, -1));
  });

  it('runs cases of all three modes in one boot, one after another', async () => {
    const { plans, lines, exit } = await runStub(names.map((n) => engineInput(ENGINE_LAYOUTS[n])));
    expect(exit).toEqual({ kind: 'stopped' });
    expect(lines.at(-1)).toBe('z');
    const starts = lines.flatMap((l, i) => (l.startsWith('c ') ? [i] : []));
    expect(starts.map((i) => lines[i])).toEqual(names.map((_, i) => `c ${i.toString(16).padStart(8, '0')}`));
    starts.forEach((start, i) => expectObserved(plans[i]!, lines.slice(start + 1, starts[i + 1] ?? lines.length - 1)));
  });

  it('sees leaf mutants of a data page as a mismatch of exactly that page, all in one boot', async () => {
    const clean = engineInput(ENGINE_LAYOUTS['ia32e-identity-perms']);
    const data = 0x130000n; // writable data, outside the text and read-only regions
    const [leaf, more] = entriesPointingAt(clean, data);
    expect(leaf).toBeDefined();
    expect(more).toBeUndefined();
    const mutants: [number, (m: Mismatch) => boolean][] = [
      [1, (m) => m.actual?.writable === false], // read-only
      [2, (m) => m.actual?.user === true], // user
      [0, (m) => m.actual === null], // not present
      [12, (m) => m.actual?.phys === data + 0x1000n], // another frame
    ];
    const { plans, lines, exit } = await runStub(mutants.map(([b]) => withEntryBit(clean, leaf!, b)));
    expect(exit).toEqual({ kind: 'stopped' });
    const starts = lines.flatMap((l, i) => (l.startsWith('c ') ? [i] : []));
    expect(starts).toHaveLength(mutants.length);
    mutants.forEach(([, seen], i) => {
      const plan = plans[i]!;
      const caseLines = lines.slice(starts[i]! + 1, starts[i + 1] ?? lines.length - 1);
      const guest = parseGuestCase(caseLines);
      expect(guest.finished).toBe(true);
      const signedOnly = (r: MappedRange) => ({ ...r, executable: false });
      const mismatches = compareRanges(clean.expected.map(signedOnly), observedTranslations(plan, guest, []).map(signedOnly), plan.coverage);
      expect(mismatches.map((m) => [m.virt, m.size])).toEqual([[data, 0x1000n]]);
      expect(seen(mismatches[0]!)).toBe(true);
    });
  });

  it('pae-identity-perms with bit 1 set in PDPTE 0: #GP(0) when the stub sets CR0.PG, so paging never comes on', async () => {
    const clean = engineInput(ENGINE_LAYOUTS['pae-identity-perms']);
    const cr3 = planCase(clean).cr3;
    const input = withEntryBit(clean, Number(cr3 - clean.tablesPhys), 1);
    const { lines, exit } = await runStub([input]);
    expect(exit).toEqual({ kind: 'stopped' });
    const trap = lines.find((l) => l.startsWith('x '))?.split(' ');
    // x VEC IP ERR CR2
    expect([trap?.[1], trap?.[3]]).toEqual(['0000000d', '00000000']);
    expect(lines.some((l) => l.startsWith('e '))).toBe(false); // paging never came on
  });
});
