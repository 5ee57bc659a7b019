/**
 * The pieces under the Unicorn engine: the library's location, the koffi
 * binding, the hand-assembled routines, the page-fault error code, and proof
 * that Unicorn translates through the guest's page tables.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { Unicorn, unicornVersion } from '../src/engines/unicorn/binding.js';
import { UC_PROT_READ, X86_REG } from '../src/engines/unicorn/constants.js';
import { errorCodeAt, errorCodeLocation } from '../src/engines/unicorn/fault-code.js';
import { harnessLayout } from '../src/engines/unicorn/harness.js';
import { unicornLibraryPath, UNICORN_EXPECTED_VERSION } from '../src/engines/unicorn/library.js';
import { packageRoot, packageRootFrom } from '../src/core/package-root.js';
import { probeRoutines } from '../src/engines/unicorn/routines.js';
import { SMALL_PAGE_DIRECTORY, enableSmallPaging, entryBytes, openSmallMachine } from '../src/engines/unicorn/small-machine.js';
import { PF_FETCH, PF_PRESENT, PF_WRITE, VECTOR_PAGE_FAULT } from '../src/engines/unicorn/x86.js';

const scratch = mkdtempSync(join(tmpdir(), 'x86pt-unicorn-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the Unicorn library', () => {
  it('is found from the package root, wherever the code runs from', () => {
    const root = packageRoot();
    expect(readFileSync(join(root, 'package.json'), 'utf8')).toContain('"name": "x86pt"');
    expect(packageRootFrom(join(root, 'dist', 'src', 'engines', 'unicorn'))).toBe(root);
    expect(unicornLibraryPath()).toBe(join(root, '.local', 'python', 'unicorn', 'lib', 'libunicorn.so.2'));
  });

  it('when missing, is an InputError naming the command that installs it', () => {
    const root = join(scratch, 'no-library');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'package.json'), '{"name": "elsewhere"}');
    expect(() => unicornLibraryPath(root)).toThrow(InputError);
    expect(() => unicornLibraryPath(root)).toThrow(/npm run setup.*bash scripts\/setup\.sh python/);
  });

  it('reports its version through uc_version', () => {
    expect(unicornVersion()).toBe(UNICORN_EXPECTED_VERSION);
  });
});

describe('the probe routines', () => {
  for (const width of [32, 64] as const) {
    it(`are the bytes GNU as assembles from their source (${width}-bit)`, () => {
      for (const routine of Object.values(probeRoutines(width))) {
        const source = join(scratch, `${routine.name}-${width}.s`);
        const object = join(scratch, `${routine.name}-${width}.o`);
        const binary = join(scratch, `${routine.name}-${width}.bin`);
        writeFileSync(source, `.intel_syntax noprefix\n.code${width}\n${routine.source}\n`);
        execFileSync('as', [`--${width}`, '-o', object, source]);
        execFileSync('objcopy', ['-O', 'binary', '-j', '.text', object, binary]);
        expect(Buffer.from(routine.code).toString('hex'), routine.name).toBe(readFileSync(binary).toString('hex'));
      }
    });
  }

  it('fit the harness page without touching its first 16 bytes or the GDT', () => {
    for (const width of [32, 64] as const) {
      const routines = probeRoutines(width);
      const layout = harnessLayout(routines);
      const spans = [
        ...Object.entries(layout.kernel).map(([name, at]) => [at, at + routines[name as keyof typeof routines].code.byteLength] as const),
        [layout.user.touch, layout.user.touch + routines.touch.code.byteLength] as const,
        [layout.user.idle, layout.user.idle + routines.idle.code.byteLength] as const,
        [layout.gdt, layout.gdt + layout.gdtLimit + 1] as const,
        [layout.idleFrame, layout.idleFrame + 40] as const,
        [layout.touchFrame, layout.touchFrame + 40] as const,
      ].sort((a, b) => a[0] - b[0]);
      expect(spans[0]![0]).toBeGreaterThanOrEqual(16);
      for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
      expect(spans[spans.length - 1]![1]).toBeLessThanOrEqual(4096);
    }
  });
});

/**
 * A small machine with 4-level (64-bit) or PAE (32-bit) paging: virtual
 * 0x400000 maps physical 0x200000; physical 0x400000 holds other bytes.
 */
function pagedMachine(width: 32 | 64): { uc: Unicorn; code: bigint } {
  const uc = openSmallMachine(width, 0x800000n);
  // PD entries 0-3 -> page tables 0x4000.. ; identity for the first 2 MiB, then the test pages.
  for (let i = 0n; i < 4n; i++) uc.writeMemory(SMALL_PAGE_DIRECTORY + i * 8n, entryBytes((0x4000n + i * 0x1000n) | 7n));
  const pt = new Uint8Array(4 * 4096);
  const view = new DataView(pt.buffer);
  for (let page = 0; page < 512; page++) view.setBigUint64(page * 8, BigInt(page * 4096) | 3n, true);
  // 0x400000 (PT 2, entry 0) -> physical 0x200000; 0x401000: user page; 0x402000: execute-disabled, read-only.
  view.setBigUint64(2 * 4096, 0x200000n | 3n, true);
  view.setBigUint64(2 * 4096 + 8, 0x201000n | 7n, true);
  view.setBigUint64(2 * 4096 + 16, 0x202000n | 1n | (1n << 63n), true);
  uc.writeMemory(0x4000n, pt);
  uc.writeMemory(0x200000n, new TextEncoder().encode('RIGHTPAG'));
  uc.writeMemory(0x400000n, new TextEncoder().encode('IDENTITY'));
  enableSmallPaging(uc);
  // mov rax/eax, [rsi/esi]; (two bytes later) mov [rsi/esi], rax/eax; jmp rax/eax
  const code = 0x10000n;
  uc.writeMemory(code, Uint8Array.from(width === 64 ? [0x48, 0x8b, 0x06, 0x48, 0x89, 0x06, 0xff, 0xe0] : [0x8b, 0x06, 0x90, 0x89, 0x06, 0x90, 0xff, 0xe0]));
  return { uc, code };
}

describe('Unicorn 2.1 under the engine', () => {
  for (const width of [32, 64] as const) {
    it(`translates through the guest's page tables, not virtual = physical (${width}-bit)`, () => {
      const { uc, code } = pagedMachine(width);
      try {
        const [si, ax] = width === 64 ? [X86_REG.RSI, X86_REG.RAX] : [X86_REG.ESI, X86_REG.EAX];
        uc.writeRegister(si, 0x400000n);
        uc.writeRegister(ax, 0n);
        expect(uc.start(code, code + 3n)).toBe(0);
        const read = uc.readRegister(ax);
        const bytes = new Uint8Array(8);
        new DataView(bytes.buffer).setBigUint64(0, read, true);
        // Reading virtual 0x400000 reached physical 0x200000; an identity translation would have read "IDENTITY".
        expect(new TextDecoder().decode(width === 64 ? bytes : bytes.subarray(0, 4))).toBe(width === 64 ? 'RIGHTPAG' : 'RIGH');
        expect(uc.translate(0x400000n, UC_PROT_READ)).toBe(0x200000n);
      } finally {
        uc.close();
      }
    });
  }

  it('reports page faults to the interrupt hook with CR2, never through the guest IDT, and keeps the error code in its saved state', () => {
    const { uc, code } = pagedMachine(64);
    try {
      const slot = errorCodeLocation(64);
      const vectors: number[] = [];
      uc.hookInterrupts((vector) => {
        vectors.push(vector);
        uc.stop();
      });
      const clean = uc.saveContext();
      const after = uc.saveContext();
      const fault = (start: bigint, registers: [number, bigint][]): { cr2: bigint; rip: bigint; code: number } => {
        clean.restore();
        for (const [id, value] of registers) uc.writeRegister(id, value);
        uc.start(start, start + 3n);
        after.save();
        return { cr2: uc.readRegister(X86_REG.CR2), rip: uc.readRegister(X86_REG.RIP), code: errorCodeAt(after, slot) };
      };
      // A supervisor write to the read-only page, then a fetch from the execute-disabled page.
      expect(fault(code + 3n, [[X86_REG.RSI, 0x402008n]])).toEqual({ cr2: 0x402008n, rip: code + 3n, code: PF_PRESENT | PF_WRITE });
      expect(fault(code + 6n, [[X86_REG.RAX, 0x402010n]])).toEqual({ cr2: 0x402010n, rip: 0x402010n, code: PF_PRESENT | PF_FETCH });
      // Restoring the saved state before each run keeps the second fault a page fault, not a double fault.
      expect(vectors).toEqual([VECTOR_PAGE_FAULT, VECTOR_PAGE_FAULT]);
    } finally {
      uc.close();
    }
  });

  it('finds the error code in the same place in both code widths', () => {
    expect(errorCodeLocation(32)).toBe(errorCodeLocation(64));
  });
});
