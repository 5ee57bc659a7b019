/**
 * The QEMU engine where layouts reach past 4 GiB: sparse guest RAM up to
 * the modelled MAXPHYADDR, the stub preparing such cases in IA-32e mode under
 * its own identity map, the device hole between 3 and 4 GiB, and refusals
 * with their reason codes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { KernelDescription } from '../src/elf/kernel.js';
import type { EngineInput } from '../src/verify/model.js';
import { compareRanges } from '../src/verify/compare.js';
import { createQemuEngine, type QemuReport } from '../src/engines/qemu/engine.js';
import { MMU_LISTING_MAX_PAGES, planCase } from '../src/engines/qemu/case-plan.js';
import { planNextBoot } from '../src/engines/qemu/boot-plan.js';
import { buildProbeStub } from '../src/engines/qemu/stub-build.js';
import { lookup } from '../src/engines/qemu/case-report.js';
import { GUEST_MEMORY_MICROVM, QEMU_MAX_PHYS_ADDR, UnhostableLayout } from '../src/engines/qemu/guest-memory.js';
import { engineInput, HIGH_HALF, withEntryBit } from './support/engine-layouts.js';
import { entriesPointingAt } from './support/qemu-layouts.js';

const KiB = 1024n;
const MiB = 1n << 20n;
const GiB = 1n << 30n;
const TOP = 1n << BigInt(QEMU_MAX_PHYS_ADDR);

/** 64 MiB of IA-32e RAM at `base` with text, rodata and locore, tables near its end; a VM window at `vmBase`. */
function kernelAt(base: bigint, vmBase = base, sizeKiB = 64n * KiB): KernelDescription {
  const size = sizeKiB * KiB;
  return {
    mode: 'ia32e', sramBase: base, sramSizeKiB: sizeKiB, kernelVmBase: vmBase, pagetablesStart: vmBase + size - 4n * MiB, regionPermissions: true,
    regions: {
      _image_text: { start: vmBase, size: 2n * MiB }, _image_rodata: { start: vmBase + 2n * MiB, size: MiB },
      _locore: { start: base + 3n * MiB, size: 0x1000n }, _lorodata: { start: base + 3n * MiB + 0x1000n, size: 0x1000n },
    },
  };
}

const engine = createQemuEngine();

/** A report whose guest observed exactly the expected translation over what it probed. */
async function verified(input: EngineInput): Promise<QemuReport> {
  const report = await (await engine).run(input);
  expect(report.guestFailure).toBeNull();
  expect(report.violations).toEqual([]);
  expect(compareRanges(input.expected, report.actual, report.coverage)).toEqual([]);
  return report;
}

describe('layouts above 4 GiB', () => {
  it('verifies a kernel with 64 MiB of RAM at 4 GiB, its tables there too, prepared in IA-32e mode', async () => {
    const input = engineInput(kernelAt(4n * GiB));
    expect(input.tablesPhys).toBeGreaterThan(4n * GiB);
    const plan = planCase(input, {}, GUEST_MEMORY_MICROVM);
    expect(plan.long).toBe(true);
    expect(plan.code.phys).toBeGreaterThanOrEqual(4n * GiB);
    const report = await verified(input);
    // Every page probed (the full plan), QEMU's own MMU listed and in agreement.
    expect(report.coverage.reduce((n, s) => n + s.size, 0n)).toBeGreaterThanOrEqual(64n * MiB);
    expect(report.mmu.listed).toBe(true);
    expect(report.mmu.disagreements).toEqual([]);
    expect(report.ranAt).toBe(plan.code.runVirt);
  });

  it('verifies tables above 4 GiB for RAM that starts low and crosses the device hole, leaving the hole unprobed', async () => {
    const input = engineInput({ ...kernelAt(2n * GiB, 2n * GiB, 4n * 1024n * KiB) });
    expect(input.tablesPhys).toBeGreaterThan(4n * GiB);
    const report = await verified(input);
    expect(report.unprobed.map((u) => u.reason.split(':')[0])).toContain('mmio-hole');
    expect(report.coverage.some((s) => s.virt >= 4n * GiB)).toBe(true);
    expect(report.coverage.some((s) => s.virt < 3n * GiB)).toBe(true);
    expect(report.coverage.every((s) => s.virt + s.size <= 3n * GiB || s.virt >= 4n * GiB)).toBe(true);
  });

  it('runs the stub from the upper canonical half, where the dual window maps RAM above 4 GiB', async () => {
    const input = engineInput(kernelAt(4n * GiB, HIGH_HALF + 4n * GiB));
    const report = await verified(input);
    expect(report.ranAt! >= HIGH_HALF).toBe(true);
    expect(report.coverage.some((s) => s.virt >= HIGH_HALF)).toBe(true);
  });

  it('catches one flipped PTE bit on a layout above 4 GiB, at exactly that page', async () => {
    const clean = engineInput(kernelAt(4n * GiB));
    const data = 4n * GiB + 16n * MiB; // writable data, outside text, rodata and the tables
    const [leaf, more] = entriesPointingAt(clean, data);
    expect(leaf).toBeDefined();
    expect(more).toBeUndefined();
    const mutant = withEntryBit(clean, leaf!, 1); // R/W cleared
    const report = await (await engine).run(mutant);
    const mismatches = compareRanges(clean.expected, report.actual, report.coverage);
    expect(mismatches).toEqual([{ virt: data, size: 4096n, expected: expect.objectContaining({ phys: data, writable: true }), actual: expect.objectContaining({ phys: data, writable: false }) }]);
  });
});

describe('the top of the modelled MAXPHYADDR', () => {
  it(`accepts RAM that ends at 2^${QEMU_MAX_PHYS_ADDR}, and refuses it one page further with its reason code`, async () => {
    const below = engineInput(kernelAt(TOP - 64n * MiB));
    await verified(below);
    const past = engineInput({ ...kernelAt(TOP - 64n * MiB), sramSizeKiB: 64n * KiB + 4n });
    const refusal = await (await engine).run(past).then(() => null, (err: unknown) => err);
    expect(refusal).toBeInstanceOf(UnhostableLayout);
    expect((refusal as UnhostableLayout).reason).toBe('phys-above-maxphyaddr');
    expect((refusal as Error).message).toMatch(/^phys-above-maxphyaddr: .*past 0x100000000000, QEMU's MAXPHYADDR \(44 bits\)/);
  });

  it('checks reserved bits where MAXPHYADDR says, as the walker QEMU is judged by does: bit 43 of a PTE moves the page, bit 44 faults', async () => {
    expect(QEMU_MAX_PHYS_ADDR).toBe(44);
    const clean = engineInput(kernelAt(4n * GiB));
    const data = 4n * GiB + 16n * MiB;
    const [leaf] = entriesPointingAt(clean, data);
    const moved = await (await engine).run(withEntryBit(clean, leaf!, 43));
    expect(moved.guestFailure).toBeNull();
    expect(moved.mmu.disagreements).toEqual([]);
    // QEMU's MMU puts the page 2^43 up, where no RAM is: the probe reads something that is not the page's signature.
    expect(lookup(moved.mmu.translations, data)).toMatchObject({ phys: data + (1n << 43n) });
    expect(compareRanges(clean.expected, moved.actual, moved.coverage)).toEqual([
      { virt: data, size: 4096n, expected: expect.objectContaining({ phys: data }), actual: expect.not.objectContaining({ phys: data }) },
    ]);
    const reserved = await (await engine).run(withEntryBit(clean, leaf!, 44));
    expect(reserved.guestFailure).toBeNull();
    // The walker finds the entry reserved as the CPU did; only QEMU's monitor, which checks no reserved bits, lists it.
    expect(reserved.mmu.disagreements).toEqual([{ virt: data, size: 4096n, expected: null, actual: expect.objectContaining({ phys: data + (1n << 44n) }) }]);
    expect(compareRanges(clean.expected, reserved.actual, reserved.coverage)).toEqual([
      { virt: data, size: 4096n, expected: expect.objectContaining({ phys: data }), actual: null },
    ]);
  });

  it('refuses, with reason codes, a layout that leaves the stub no executable page, and memory above 3 GiB where only RAM below is modelled (Bochs)', () => {
    const noText = engineInput({
      mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 64n, pagetablesStart: 0x200000n, regionPermissions: true,
      regions: { _image_text: { start: 0x100000n, size: 0n }, _image_rodata: { start: 0x100000n, size: 0n } },
    });
    expect(() => planCase(noText, {}, GUEST_MEMORY_MICROVM)).toThrow(/^no-code-page: no page outside the tables is identity-mapped executable/);
    const high = engineInput(kernelAt(4n * GiB));
    expect(() => planCase(high)).toThrow(/^no-ram: .*outside the guest's RAM \(RAM only below 3 GiB/);
    expect(planCase(high, {}, GUEST_MEMORY_MICROVM).long).toBe(true);
  });

  it('refuses a full plan over RAM that fills everything below 3 GiB: no room for the stub, with its reason code', async () => {
    const filling = engineInput({ mode: 'ia32e', sramBase: 0n, sramSizeKiB: 4n * 1024n * 1024n, pagetablesStart: 0x100000n });
    const stub = await buildProbeStub();
    expect(() => planNextBoot([planCase(filling, { plan: 'all' }, GUEST_MEMORY_MICROVM)], stub)).toThrow(/^no-stub-room: no free physical memory between 1 MiB and 3 GiB/);
    // The default plan leaves room.
    expect(planNextBoot([planCase(filling, {}, GUEST_MEMORY_MICROVM)], stub).cases).toHaveLength(1);
  });

  it('refuses tables in the device hole, naming it', () => {
    const input = engineInput({ mode: 'ia32e', sramBase: 2n * GiB, sramSizeKiB: 2n * 1024n * KiB, pagetablesStart: 3n * GiB + 16n * MiB });
    expect(() => planCase(input, {}, GUEST_MEMORY_MICROVM)).toThrow(/^mmio-hole: tables 0xc1000000-.* lies in QEMU microvm's device hole/);
  });
});

describe('sparse guest memory', () => {
  it('verifies a 64 GiB identity map with a QEMU far smaller than the layout, its MMU listing skipped', async () => {
    let pid = 0;
    let peakKiB = 0;
    const sampling = await createQemuEngine({ onCaseStart: (start) => { pid = start.pid; } });
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
      } catch { /* QEMU not started yet, or gone */ }
    }, 20);
    const input = engineInput({ mode: 'ia32e', sramBase: 0n, sramSizeKiB: 64n * 1024n * 1024n, pagetablesStart: 0x100000n });
    try {
      const report = await sampling.run(input);
      expect(report.guestFailure).toBeNull();
      expect(compareRanges(input.expected, report.actual, report.coverage)).toEqual([]);
      expect(report.mmu.listed).toBe(false);
      expect(report.unprobed.map((u) => u.reason)).toEqual([expect.stringMatching(/^mmio-hole/), expect.stringMatching(/tables' pages carry no signature/)]);
      expect(report.coverage.some((s) => s.virt >= 63n * GiB)).toBe(true);
    } finally {
      clearInterval(poll);
    }
    expect(peakKiB).toBeGreaterThan(0);
    expect(BigInt(peakKiB) * KiB).toBeLessThan(GiB);
  }, 120_000);

  it('lists QEMU\'s MMU up to the bound and not past it', () => {
    const at = (sizeKiB: bigint) => planCase(engineInput(kernelAt(4n * GiB, 4n * GiB, sizeKiB)), {}, GUEST_MEMORY_MICROVM);
    expect(at(BigInt(MMU_LISTING_MAX_PAGES) * 4n).mmuListed).toBe(true);
    expect(at(BigInt(MMU_LISTING_MAX_PAGES) * 4n + 4n).mmuListed).toBe(false);
  });
});
