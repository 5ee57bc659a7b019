import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { assembleFlat } from '../src/engines/bochs/assemble.js';
import { BOCHS_CPU_MODELS, bochsModelFor, cpuConfigLines, type CpuProfile } from '../src/engines/bochs/cpu-profile.js';
import { bochsVersion, MiB, runGuest } from '../src/engines/bochs/harness.js';
import { runPagingCheck, type PagingCheck } from '../src/engines/bochs/paging-checks.js';

const TIGERLAKE: CpuProfile = { maxPhysAddr: 40, nxe: true, pse: true, pdpe1gb: true, smep: true, smap: true };
const NO_1G: CpuProfile = { ...TIGERLAKE, pdpe1gb: false, smep: false, smap: false };
const WITH_1G: CpuProfile = { ...NO_1G, pdpe1gb: true };

const u64 = (value: bigint): Uint8Array => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
};
/** A 4 KiB table with the given entries (index -> value). */
const table = (entries: Readonly<Record<number, bigint>>): Uint8Array => {
  const bytes = new Uint8Array(4096);
  const view = new DataView(bytes.buffer);
  for (const [i, v] of Object.entries(entries)) view.setBigUint64(Number(i) * 8, v, true);
  return bytes;
};
const bit = (n: number): bigint => 1n << BigInt(n);

// Entry bits: present, writable, a large page.
const P = 1n;
const RW = 2n;
const PS = 0x80n;
// Physical layout of the tables: PD0 identity-maps 0-4 MiB (the guest, its stack and IDT) with
// 2 MiB pages; PD1 maps 1 GiB (virtual 0x40000000) to physical 4 MiB, where DATA is.
const PHYS = { pdpt: 0x20000, pd0: 0x21000, pd1: 0x22000, pdptAgain: 0x23000, pml4: 0x30000, pdpt64: 0x31000, data: 0x400000 } as const;
const DATA = 0x1122334455667788n;
const PROBE = 0x40000000;

const pd0 = table({ 0: 0x000000n | PS | RW | P, 1: 0x200000n | PS | RW | P });
const pd1 = (extra = 0n): Uint8Array => table({ 0: BigInt(PHYS.data) | PS | RW | P | extra });
const pdpt = (pdpte1Extra = 0n): Uint8Array => table({ 0: BigInt(PHYS.pd0) | P, 1: BigInt(PHYS.pd1) | P | pdpte1Extra });

/** PAE tables: a clean PDPT (turns paging on), a second PDPT whose PDPTE 1 carries `again` bits, and PD1 with `pde` bits. */
function paeCheck(options: { first?: bigint; again?: bigint; pde?: bigint; probe?: boolean; watch?: boolean }): PagingCheck {
  return {
    mode: 'pae',
    profile: TIGERLAKE,
    blobs: [
      { phys: PHYS.pdpt, bytes: pdpt(options.first).subarray(0, 32) },
      { phys: PHYS.pdptAgain, bytes: pdpt(options.again).subarray(0, 32) },
      { phys: PHYS.pd0, bytes: pd0 },
      { phys: PHYS.pd1, bytes: pd1(options.pde) },
      { phys: PHYS.data, bytes: u64(DATA) },
    ],
    cr3: PHYS.pdpt,
    ...(options.again !== undefined ? { cr3Again: PHYS.pdptAgain } : {}),
    ...(options.probe ? { probe: PROBE } : {}),
    ...(options.watch ? { watch: PHYS.pdpt + 8 } : {}),
  };
}

describe('Bochs boots our ROM headless', () => {
  it('reports its version and runs a guest to its shutdown, printing only what the guest printed', async () => {
    expect(await bochsVersion()).toMatch(/^2\.\d+/);
    const guest = await assembleFlat('cpuid-report.S', 0x100000);
    const result = await runGuest({ blobs: [{ phys: 0x100000, bytes: guest }], entry: { eip: 0x100000, esp: 0x7000 }, profile: TIGERLAKE, memoryBytes: 32 * MiB, timeoutMs: 20_000 });
    expect(result.exit).toEqual({ kind: 'shutdown' });
    expect(result.entered).toBe(true);
    const text = Buffer.from(result.console).toString('latin1');
    expect(text).toMatch(/^cpuid 00000000 [0-9a-f]{8} 756e6547 6c65746e 49656e69\n/); // "GenuineIntel"
    expect(text.endsWith('done\n')).toBe(true);
  });

  it('enters with the registers the host gave, and stops a halted guest at the time limit', async () => {
    // mov %eax, %ecx... : print the low byte of each of eax, ebx, ecx, edx, esi, edi, ebp, then hlt with interrupts off.
    const code = new Uint8Array([
      0x50, 0x5a, // push eax; pop edx  -- keep edx for last
      ...[0xe6, 0xe9], // out al, 0xe9 (eax)
      0x89, 0xd8, 0xe6, 0xe9, // mov eax, ebx; out
      0x89, 0xc8, 0xe6, 0xe9, // mov eax, ecx; out
      0x89, 0xf0, 0xe6, 0xe9, // mov eax, esi; out
      0x89, 0xf8, 0xe6, 0xe9, // mov eax, edi; out
      0x89, 0xe8, 0xe6, 0xe9, // mov eax, ebp; out
      0x89, 0xe0, 0xe6, 0xe9, // mov eax, esp; out
      0x8c, 0xc8, 0xe6, 0xe9, // mov eax, cs; out
      0x8c, 0xd8, 0xe6, 0xe9, // mov eax, ds; out
      0xfa, 0xf4, 0xeb, 0xfd, // cli; hlt; jmp hlt
    ]);
    const started = performance.now();
    const result = await runGuest({
      blobs: [{ phys: 0x200000, bytes: code }],
      entry: { eip: 0x200000, eax: 0x41, ebx: 0x42, ecx: 0x43, esi: 0x44, edi: 0x45, ebp: 0x46, esp: 0x47 },
      profile: TIGERLAKE,
      memoryBytes: 8 * MiB,
      timeoutMs: 1500,
    });
    expect(result.exit).toEqual({ kind: 'timeout', afterMs: 1500 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(1500);
    expect(Array.from(result.console)).toEqual([0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x08, 0x10]);
  });

  it('ends a run as soon as the console shows what the caller waits for', async () => {
    const code = new Uint8Array([0xb0, 0x7a, 0xe6, 0xe9, 0xb0, 0x0a, 0xe6, 0xe9, 0xfa, 0xf4, 0xeb, 0xfd]); // "z\n", then halt
    const result = await runGuest({
      blobs: [{ phys: 0x200000, bytes: code }], entry: { eip: 0x200000 }, profile: TIGERLAKE, memoryBytes: 8 * MiB, timeoutMs: 20_000,
      stopAtLine: (line) => line === 'z',
    });
    expect(result.exit).toEqual({ kind: 'stopped' });
    expect(Buffer.from(result.console).toString('latin1')).toBe('z\n');
    expect(result.elapsedMs).toBeLessThan(10_000);
  });

  it('reports a triple fault instead of rebooting into the ROM', async () => {
    const code = new Uint8Array([0x0f, 0x0b]); // ud2 with no IDT
    const result = await runGuest({ blobs: [{ phys: 0x200000, bytes: code }], entry: { eip: 0x200000 }, profile: TIGERLAKE, memoryBytes: 8 * MiB, timeoutMs: 20_000 });
    expect(result.exit.kind).toBe('triple-fault');
    expect(result.entered).toBe(true);
  });

  it('leaves no temp dir behind, whichever way the run ends, and names the install command when Bochs is missing', async () => {
    const halt = new Uint8Array([0xb0, 0x7a, 0xe6, 0xe9, 0xb0, 0x0a, 0xe6, 0xe9, 0xfa, 0xf4, 0xeb, 0xfd]); // "z\n", then halt
    const base = { entry: { eip: 0x200000 }, profile: TIGERLAKE, memoryBytes: 8 * MiB };
    await runGuest({ ...base, blobs: [{ phys: 0x200000, bytes: halt }], timeoutMs: 300 }); // builds the loader first
    const saved = { TMPDIR: process.env.TMPDIR, PATH: process.env.PATH };
    const tmp = mkdtempSync(join(tmpdir(), 'x86pt-bochs-test-'));
    try {
      process.env.TMPDIR = tmp;
      const runs = await Promise.all([
        runGuest({ ...base, blobs: [{ phys: 0x200000, bytes: halt }], timeoutMs: 300 }),
        runGuest({ ...base, blobs: [{ phys: 0x200000, bytes: halt }], timeoutMs: 20_000, stopAtLine: (l) => l === 'z' }),
        runGuest({ ...base, blobs: [{ phys: 0x200000, bytes: new Uint8Array([0x0f, 0x0b]) }], timeoutMs: 20_000 }),
        runGuest({ ...base, blobs: [{ phys: 0x200000, bytes: halt }, { phys: 0x300000, bytes: new Uint8Array(1000) }], carrier: 'disk', timeoutMs: 300 }),
      ]);
      expect(runs.map((r) => r.exit.kind)).toEqual(['timeout', 'stopped', 'triple-fault', 'timeout']);
      process.env.PATH = '/nonexistent';
      const missing = runGuest({ ...base, blobs: [{ phys: 0x200000, bytes: halt }], timeoutMs: 300 });
      await expect(missing).rejects.toThrow(InputError);
      await expect(missing).rejects.toThrow(/cannot run bochs-bin .*apt-get install --no-install-recommends bochs bochs-sdl bochsbios vgabios/);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.TMPDIR === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved.TMPDIR;
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses blobs outside the guest RAM or in the legacy window, and overlapping blobs', async () => {
    const run = (blobs: { phys: number; bytes: Uint8Array }[]) => runGuest({ blobs, entry: { eip: 0x200000 }, profile: TIGERLAKE, memoryBytes: 8 * MiB, timeoutMs: 5000 });
    await expect(run([{ phys: 8 * MiB - 4, bytes: new Uint8Array(8) }])).rejects.toThrow(/reaches past the guest's RAM/);
    await expect(run([{ phys: 0xb8000, bytes: new Uint8Array(8) }])).rejects.toThrow(/legacy video and ROM window/);
    await expect(run([{ phys: 0x200000, bytes: new Uint8Array(16) }, { phys: 0x200008, bytes: new Uint8Array(8) }])).rejects.toThrow(/blob 0 and blob 1 overlap at 0x200008/);
    await expect(run([{ phys: 0x800, bytes: new Uint8Array(8) }])).rejects.toThrow(/physical page 0, which the loader uses/);
  });

  /** The guest's hash of `length` bytes from `phys` (blob-sum.S). */
  const guestHash = async (blobs: { phys: number; bytes: Uint8Array }[], phys: number, length: number, carrier?: 'disk') => {
    const guest = await assembleFlat('blob-sum.S', 0x100000);
    const result = await runGuest({
      blobs: [{ phys: 0x100000, bytes: guest }, ...blobs], entry: { eip: 0x100000, esp: 0x7000, esi: phys, ecx: length },
      profile: TIGERLAKE, memoryBytes: 32 * MiB, timeoutMs: 30_000, ...(carrier ? { carrier } : {}),
    });
    expect(result.exit).toEqual({ kind: 'shutdown' });
    return Buffer.from(result.console).toString('latin1');
  };
  const hostHash = (bytes: Uint8Array): string => {
    let h = 0;
    for (const b of bytes) h = (((h << 5) | (h >>> 27)) ^ b) >>> 0;
    return `sum ${h.toString(16).padStart(8, '0')}\n`;
  };
  /** Bytes no two pages of which are alike. */
  const pattern = (length: number, seed: number): Uint8Array => {
    const bytes = new Uint8Array(length);
    let x = seed;
    for (let i = 0; i < length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bytes[i] = x >>> 24;
    }
    return bytes;
  };

  it('places blobs from the ROM byte for byte', async () => {
    const a = pattern(70_001, 1);
    const b = pattern(3, 2);
    expect(await guestHash([{ phys: 0x300000, bytes: a }, { phys: 0x300000 + a.byteLength, bytes: b }], 0x300000, a.byteLength + 3)).toBe(hostHash(new Uint8Array([...a, ...b])));
  });

  it('places blobs from the disk byte for byte, a partial last sector without writing past the blob', async () => {
    const a = pattern(70_001, 3);
    const b = pattern(515, 4);
    const c = pattern(1024, 5);
    const blobs = [{ phys: 0x300000, bytes: a }, { phys: 0x300000 + a.byteLength, bytes: b }, { phys: 0x300000 + a.byteLength + b.byteLength, bytes: c }];
    expect(await guestHash(blobs, 0x300000, a.byteLength + b.byteLength + c.byteLength, 'disk')).toBe(hostHash(new Uint8Array([...a, ...b, ...c])));
  });

  it('carries blobs too big for the 4 MiB ROM on the disk', async () => {
    const big = pattern(6 * 1024 * 1024 + 77, 6);
    expect(await guestHash([{ phys: 0x400000, bytes: big }], 0x400000, big.byteLength)).toBe(hostHash(big));
  });
});

describe('CPU profiles', () => {
  const report = async (profile: CpuProfile): Promise<Map<number, number[]>> => {
    const guest = await assembleFlat('cpuid-report.S', 0x100000);
    const result = await runGuest({ blobs: [{ phys: 0x100000, bytes: guest }], entry: { eip: 0x100000, esp: 0x7000 }, profile, memoryBytes: 8 * MiB, timeoutMs: 20_000 });
    expect(result.exit).toEqual({ kind: 'shutdown' });
    const leaves = new Map<number, number[]>();
    for (const line of Buffer.from(result.console).toString('latin1').split('\n')) {
      const parts = line.split(' ');
      if (parts[0] === 'cpuid') leaves.set(Number.parseInt(parts[1]!, 16), parts.slice(2).map((p) => Number.parseInt(p, 16)));
    }
    return leaves;
  };

  it.each(BOCHS_CPU_MODELS.map((m) => [m.model, m] as const))('%s: CPUID read back from the guest says what the profile says', async (_, model) => {
    expect(bochsModelFor(model).model).toBe(model.model);
    expect(cpuConfigLines(model)).toEqual([expect.stringMatching(new RegExp(`^cpu: model=${model.model}, `))]);
    const leaves = await report(model);
    const has = (leaf: number, reg: number, b: number): boolean => {
      const max = leaf >= 0x80000000 ? leaves.get(0x80000000)![0]! >>> 0 : leaves.get(0)![0]!;
      return leaf <= max && ((leaves.get(leaf)![reg]! >>> b) & 1) === 1;
    };
    expect(has(1, 3, 3)).toBe(model.pse);
    expect(has(7, 1, 7)).toBe(model.smep);
    expect(has(7, 1, 20)).toBe(model.smap);
    expect(has(0x80000001, 3, 20)).toBe(model.nxe);
    expect(has(0x80000001, 3, 26)).toBe(model.pdpe1gb);
    expect(has(0x80000001, 3, 29)).toBe(model.longMode);
    expect(leaves.get(0x80000008)![0]! & 0xff).toBe(model.maxPhysAddr);
  });

  it('refuses a profile no model has, naming what Bochs offers', () => {
    expect(() => bochsModelFor({ ...TIGERLAKE, smep: false })).toThrow(/no Bochs CPU model has MAXPHYADDR 40, NXE, PSE, PDPE1GB, no SMEP, SMAP; Bochs offers: /);
    expect(() => bochsModelFor({ ...TIGERLAKE, pse: false })).toThrow(InputError);
    expect(() => bochsModelFor({ ...TIGERLAKE, maxPhysAddr: 36 })).toThrow(/cannot model MAXPHYADDR 36/);
    expect(() => bochsModelFor({ ...TIGERLAKE, maxPhysAddr: 46 })).toThrow(/cannot model MAXPHYADDR 46/);
  });

  // 1 GiB page at virtual 1 GiB -> physical 0, read at +4 MiB (DATA) in IA-32e mode.
  const oneGiBPage = (profile: CpuProfile): PagingCheck => ({
    mode: 'ia32e',
    profile,
    blobs: [
      { phys: PHYS.pml4, bytes: table({ 0: BigInt(PHYS.pdpt64) | RW | P }) },
      { phys: PHYS.pdpt64, bytes: table({ 0: BigInt(PHYS.pd0) | RW | P, 1: 0n | PS | RW | P }) },
      { phys: PHYS.pd0, bytes: pd0 },
      { phys: PHYS.data, bytes: u64(DATA) },
    ],
    cr3: PHYS.pml4,
    probe: PROBE + PHYS.data,
  });

  it('PDPE1GB takes effect: a 1 GiB page translates with it', async () => {
    const r = await runPagingCheck(oneGiBPage(WITH_1G));
    expect(r.trap).toBeNull();
    expect(r.read).toBe(DATA);
    expect(r.done).toBe(true);
  });

  it('PDPE1GB takes effect: without it the same page is a reserved-bit #PF (0x09) at the read', async () => {
    const r = await runPagingCheck(oneGiBPage(NO_1G));
    expect(r.pagingOn).toBe(true);
    expect(r.trap).toEqual({ vector: 14, errorCode: 0x09, eip: r.marks.read, cr2: PROBE + PHYS.data });
    expect(r.read).toBeNull();
  });
});

describe('Bochs checks PAE PDPTEs when it loads them', () => {
  it('clean tables: paging on, CR3 reloaded, the read translates, and the walk leaves the PDPTE as written', async () => {
    const r = await runPagingCheck(paeCheck({ again: 0n, probe: true, watch: true }));
    expect(r.exit).toEqual({ kind: 'shutdown' });
    expect(r.trap).toBeNull();
    expect(r.pagingOn && r.cr3Loaded && r.done).toBe(true);
    expect(r.read).toBe(DATA);
    // TCG sets the accessed bit in PDPTE bit 5 (reserved in PAE); Bochs writes nothing there.
    expect(r.watch).toBe(BigInt(PHYS.pd1) | P);
  });

  // Reserved in a PAE PDPTE: bits 1, 2, 5-8 and MAXPHYADDR (40) to 63; allowed: PWT, PCD, the ignored 9-11, address bit 39.
  it.each([1, 2, 5, 6, 7, 8, 40, 52, 63])('PDPTE bit %i: #GP(0) at the MOV to CR3 itself', async (b) => {
    const r = await runPagingCheck(paeCheck({ again: bit(b), probe: true }));
    expect(r.pagingOn).toBe(true);
    expect(r.trap).toEqual({ vector: 13, errorCode: 0, eip: r.marks.cr3, cr2: 0 });
    expect(r.cr3Loaded).toBe(false);
  });

  it.each([3, 4, 9, 10, 11, 39])('PDPTE bit %i: the MOV to CR3 goes through', async (b) => {
    const r = await runPagingCheck(paeCheck({ again: bit(b) }));
    expect(r.trap).toBeNull();
    expect(r.cr3Loaded && r.done).toBe(true);
  });

  it('PDPTE bit 1 in the tables paging is turned on with: #GP(0) at the MOV to CR0', async () => {
    const r = await runPagingCheck(paeCheck({ first: bit(1) }));
    expect(r.trap).toEqual({ vector: 13, errorCode: 0, eip: r.marks.cr0, cr2: 0 });
    expect(r.pagingOn).toBe(false);
  });
});

describe('Bochs checks reserved bits of a 2 MiB PDE at the walk', () => {
  it.each([13, 20])('bit %i: #PF with error code 0x09 (present, reserved bit) at the read', async (b) => {
    const r = await runPagingCheck(paeCheck({ pde: bit(b), probe: true }));
    expect(r.trap).toEqual({ vector: 14, errorCode: 0x09, eip: r.marks.read, cr2: PROBE });
    expect(r.read).toBeNull();
  });

  it('bit 12 (PAT) is no address bit: the read translates to the same data', async () => {
    const r = await runPagingCheck(paeCheck({ pde: bit(12), probe: true }));
    expect(r.trap).toBeNull();
    expect(r.read).toBe(DATA);
  });

  it('bit 21 is an address bit: the read translates 2 MiB further on', async () => {
    const r = await runPagingCheck({ ...paeCheck({ pde: bit(21), probe: true }), blobs: [...paeCheck({ pde: bit(21) }).blobs, { phys: PHYS.data + 0x200000, bytes: u64(~DATA & 0xffffffffffffffffn) }] });
    expect(r.trap).toBeNull();
    expect(r.read).toBe(~DATA & 0xffffffffffffffffn);
  });
});
