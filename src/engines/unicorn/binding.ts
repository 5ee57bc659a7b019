/**
 * A thin typed binding of Unicorn's C API (the calls the engine needs),
 * loaded with koffi from the project-local libunicorn.so.2.
 */
import koffi from 'koffi';
import {
  UC_ARCH_X86,
  UC_CTL_FLUSH_TB,
  UC_CTL_FLUSH_TLB,
  UC_CTL_WRITE_CPU_MODEL,
  UC_ERR_OK,
  UC_HOOK_CODE,
  UC_HOOK_INTR,
  UC_HOOK_MEM_UNMAPPED,
  UC_MODE_32,
  UC_MODE_64,
  UC_PROT_ALL,
  X86_REG,
} from './constants.js';
import { unicornLibraryPath } from './library.js';

/** What koffi hands back for a C pointer. */
type NativePointer = unknown;
type NativeCallback = koffi.IKoffiRegisteredCallback;

/** The C functions, as koffi calls them. */
interface UnicornApi {
  uc_version(major: Uint32Array, minor: Uint32Array): number;
  uc_open(arch: number, mode: number, engine: NativePointer[]): number;
  uc_close(engine: NativePointer): number;
  uc_strerror(code: number): string;
  uc_ctl(engine: NativePointer, control: number, ...variadic: unknown[]): number;
  uc_mem_map(engine: NativePointer, address: bigint, size: bigint, perms: number): number;
  uc_mem_unmap(engine: NativePointer, address: bigint, size: bigint): number;
  uc_mem_write(engine: NativePointer, address: bigint, bytes: Uint8Array, size: bigint): number;
  uc_mem_read(engine: NativePointer, address: bigint, bytes: Uint8Array, size: bigint): number;
  uc_reg_write(engine: NativePointer, regid: number, value: Uint8Array): number;
  uc_reg_read(engine: NativePointer, regid: number, value: Uint8Array): number;
  uc_emu_start(engine: NativePointer, begin: bigint, until: bigint, timeout: bigint, count: number): number;
  uc_emu_stop(engine: NativePointer): number;
  uc_hook_add(engine: NativePointer, handle: BigUint64Array, type: number, callback: NativeCallback, userData: null, begin: bigint, end: bigint): number;
  uc_hook_del(engine: NativePointer, handle: bigint): number;
  uc_context_alloc(engine: NativePointer, context: NativePointer[]): number;
  uc_context_save(engine: NativePointer, context: NativePointer): number;
  uc_context_restore(engine: NativePointer, context: NativePointer): number;
  uc_context_size(engine: NativePointer): number;
  uc_context_free(context: NativePointer): number;
  uc_vmem_translate(engine: NativePointer, address: bigint, prot: number, physical: BigUint64Array): number;
}

interface LoadedApi {
  readonly api: UnicornApi;
  readonly interruptHook: koffi.IKoffiCType;
  readonly codeHook: koffi.IKoffiCType;
  readonly memoryEventHook: koffi.IKoffiCType;
}

let loaded: LoadedApi | undefined;

function loadApi(): LoadedApi {
  if (loaded) return loaded;
  const lib = koffi.load(unicornLibraryPath());
  const interruptHook = koffi.proto('void UnicornInterruptHook(void *uc, uint32_t intno, void *user_data)');
  const codeHook = koffi.proto('void UnicornCodeHook(void *uc, uint64_t address, uint32_t size, void *user_data)');
  const memoryEventHook = koffi.proto(
    'bool UnicornMemoryEventHook(void *uc, int type, uint64_t address, int size, int64_t value, void *user_data)',
  );
  const fn = (signature: string): unknown => lib.func(signature);
  const api = {
    uc_version: fn('unsigned int uc_version(_Out_ unsigned int *major, _Out_ unsigned int *minor)'),
    uc_open: fn('int uc_open(int arch, int mode, _Out_ void **uc)'),
    uc_close: fn('int uc_close(void *uc)'),
    uc_strerror: fn('const char *uc_strerror(int code)'),
    uc_ctl: fn('int uc_ctl(void *uc, uint32_t control, ...)'),
    uc_mem_map: fn('int uc_mem_map(void *uc, uint64_t address, uint64_t size, uint32_t perms)'),
    uc_mem_unmap: fn('int uc_mem_unmap(void *uc, uint64_t address, uint64_t size)'),
    uc_mem_write: fn('int uc_mem_write(void *uc, uint64_t address, const void *bytes, uint64_t size)'),
    uc_mem_read: fn('int uc_mem_read(void *uc, uint64_t address, _Out_ void *bytes, uint64_t size)'),
    uc_reg_write: fn('int uc_reg_write(void *uc, int regid, const void *value)'),
    uc_reg_read: fn('int uc_reg_read(void *uc, int regid, _Out_ void *value)'),
    uc_emu_start: fn('int uc_emu_start(void *uc, uint64_t begin, uint64_t until, uint64_t timeout, size_t count)'),
    uc_emu_stop: fn('int uc_emu_stop(void *uc)'),
    uc_hook_add: fn(
      'int uc_hook_add(void *uc, _Out_ size_t *hh, int type, void *callback, void *user_data, uint64_t begin, uint64_t end, ...)',
    ),
    uc_hook_del: fn('int uc_hook_del(void *uc, size_t hh)'),
    uc_context_alloc: fn('int uc_context_alloc(void *uc, _Out_ void **context)'),
    uc_context_save: fn('int uc_context_save(void *uc, void *context)'),
    uc_context_restore: fn('int uc_context_restore(void *uc, void *context)'),
    uc_context_size: fn('size_t uc_context_size(void *uc)'),
    uc_context_free: fn('int uc_context_free(void *context)'),
    uc_vmem_translate: fn('int uc_vmem_translate(void *uc, uint64_t address, int prot, _Out_ uint64_t *paddress)'),
  } as unknown as UnicornApi;
  loaded = { api, interruptHook, codeHook, memoryEventHook };
  return loaded;
}

/** A Unicorn call that returned an error code. */
export class UnicornError extends Error {
  override readonly name = 'UnicornError';
  constructor(
    readonly call: string,
    readonly code: number,
  ) {
    super(`${call} failed: ${loadApi().api.uc_strerror(code)} (uc_err ${code})`);
  }
}

function check(call: string, code: number): void {
  if (code !== UC_ERR_OK) throw new UnicornError(call, code);
}

/** The library's version as the report gives it, e.g. '2.1.4'. */
export function unicornVersion(): string {
  const packed = loadApi().api.uc_version(new Uint32Array(1), new Uint32Array(1)) >>> 0;
  // (major << 24) | (minor << 16) | (patch << 8) | extra; extra 255 marks a final release.
  const [major, minor, patch, extra] = [packed >>> 24, (packed >>> 16) & 0xff, (packed >>> 8) & 0xff, packed & 0xff];
  return `${major}.${minor}.${patch}${extra === 255 ? '' : `-rc${extra}`}`;
}

/** The kind of access an unmapped-memory event reports. */
export type MemoryAccessKind = 'read' | 'write' | 'fetch';

/** uc_mem_type of the unmapped events (UC_MEM_READ = 16, then WRITE, FETCH, READ_UNMAPPED...). */
const UNMAPPED_EVENT_KIND: Record<number, MemoryAccessKind> = { 19: 'read', 20: 'write', 21: 'fetch' };

/** A saved CPU state (uc_context), restorable any number of times. */
export interface CpuContext {
  /** Copies the CPU's current state into this context. */
  save(): void;
  /** Makes this context the CPU's state. */
  restore(): void;
  /** Releases the slot; it must not be used afterwards. */
  free(): void;
  /** The saved state's raw bytes (Unicorn's own layout), valid until the engine is closed. */
  bytes(): Uint8Array;
}

/** One Unicorn x86 engine instance. */
export class Unicorn {
  private readonly scratch = new Uint8Array(24);
  private readonly scratchView = new DataView(this.scratch.buffer);
  private readonly callbacks: NativeCallback[] = [];
  private readonly contexts: NativePointer[] = [];
  private readonly codeHooks = new Map<bigint, { begin: bigint; end: bigint; onInstruction: (address: bigint) => void }>();
  private codeCallback: NativeCallback | undefined;
  private closed = false;

  private constructor(
    private readonly api: UnicornApi,
    private readonly types: LoadedApi,
    private readonly handle: NativePointer,
    /** 32 or 64: the width of the CPU mode the engine was opened in. */
    readonly width: 32 | 64,
  ) {}

  /**
   * Opens an x86 engine in 32-bit protected mode or 64-bit long mode.
   * `cpuModel` (uc_cpu_x86) must be chosen before any other call, so it is an option here.
   */
  static open(width: 32 | 64, options: { cpuModel?: number } = {}): Unicorn {
    const types = loadApi();
    const out: NativePointer[] = [null];
    check('uc_open', types.api.uc_open(UC_ARCH_X86, width === 64 ? UC_MODE_64 : UC_MODE_32, out));
    const uc = new Unicorn(types.api, types, out[0], width);
    if (options.cpuModel !== undefined) check('uc_ctl(cpu model)', types.api.uc_ctl(out[0], UC_CTL_WRITE_CPU_MODEL, 'int', options.cpuModel));
    return uc;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const context of this.contexts) this.api.uc_context_free(context);
    this.api.uc_close(this.handle);
    for (const callback of this.callbacks) koffi.unregister(callback);
  }

  mapMemory(address: bigint, size: bigint, perms: number = UC_PROT_ALL): void {
    check(`uc_mem_map(0x${address.toString(16)}, 0x${size.toString(16)})`, this.api.uc_mem_map(this.handle, address, size, perms));
  }

  unmapMemory(address: bigint, size: bigint): void {
    check(`uc_mem_unmap(0x${address.toString(16)}, 0x${size.toString(16)})`, this.api.uc_mem_unmap(this.handle, address, size));
  }

  /** Drops every translated block and TLB entry, so nothing cached outlives a change of memory or tables. */
  flushTranslations(): void {
    check('uc_ctl(flush TBs)', this.api.uc_ctl(this.handle, UC_CTL_FLUSH_TB));
    check('uc_ctl(flush TLB)', this.api.uc_ctl(this.handle, UC_CTL_FLUSH_TLB));
  }

  writeMemory(address: bigint, bytes: Uint8Array): void {
    check(`uc_mem_write(0x${address.toString(16)})`, this.api.uc_mem_write(this.handle, address, bytes, BigInt(bytes.byteLength)));
  }

  readMemory(address: bigint, size: number): Uint8Array {
    const out = new Uint8Array(size);
    check(`uc_mem_read(0x${address.toString(16)})`, this.api.uc_mem_read(this.handle, address, out, BigInt(size)));
    return out;
  }

  /** Writes a register of up to 64 bits (segment selectors, control and general registers). */
  writeRegister(id: number, value: bigint): void {
    this.scratchView.setBigUint64(0, BigInt.asUintN(64, value), true);
    check(`uc_reg_write(${id})`, this.api.uc_reg_write(this.handle, id, this.scratch));
  }

  /** Reads a register; 32-bit registers come back zero-extended. */
  readRegister(id: number): bigint {
    this.scratch.fill(0);
    check(`uc_reg_read(${id})`, this.api.uc_reg_read(this.handle, id, this.scratch));
    return this.width === 32 ? BigInt(this.scratchView.getUint32(0, true)) : this.scratchView.getBigUint64(0, true);
  }

  /** Writes a model-specific register (struct uc_x86_msr { uint32_t rid; uint64_t value; }). */
  writeMsr(msr: number, value: bigint): void {
    this.scratch.fill(0);
    this.scratchView.setUint32(0, msr, true);
    this.scratchView.setBigUint64(8, value, true);
    check(`uc_reg_write(MSR 0x${msr.toString(16)})`, this.api.uc_reg_write(this.handle, X86_REG.MSR, this.scratch));
  }

  readMsr(msr: number): bigint {
    this.scratch.fill(0);
    this.scratchView.setUint32(0, msr, true);
    check(`uc_reg_read(MSR 0x${msr.toString(16)})`, this.api.uc_reg_read(this.handle, X86_REG.MSR, this.scratch));
    return this.scratchView.getBigUint64(8, true);
  }

  /** Loads GDTR or IDTR (struct uc_x86_mmr { uint16_t selector; uint64_t base; uint32_t limit; uint32_t flags; }). */
  writeDescriptorTableRegister(id: typeof X86_REG.GDTR | typeof X86_REG.IDTR, base: bigint, limit: number): void {
    this.scratch.fill(0);
    this.scratchView.setBigUint64(8, base, true);
    this.scratchView.setUint32(16, limit, true);
    check(`uc_reg_write(${id === X86_REG.GDTR ? 'GDTR' : 'IDTR'})`, this.api.uc_reg_write(this.handle, id, this.scratch));
  }

  /**
   * Runs from `begin` until the CPU reaches `until`, `count` instructions
   * have run (0: no limit) or a hook stops it. Returns the uc_err code, so
   * the caller can tell a stop at an unmapped physical address from success.
   */
  start(begin: bigint, until: bigint, count = 0): number {
    return this.api.uc_emu_start(this.handle, begin, until, 0n, count);
  }

  /** Asks a running emulation to stop (from inside a hook). */
  stop(): void {
    this.api.uc_emu_stop(this.handle);
  }

  /** Calls `onVector` for every interrupt or exception the CPU raises; the guest's IDT is never consulted. */
  hookInterrupts(onVector: (vector: number) => void): void {
    const callback = koffi.register((_uc: unknown, intno: number) => onVector(intno), koffi.pointer(this.types.interruptHook));
    this.addHook('interrupts', UC_HOOK_INTR, callback);
  }

  /**
   * Calls `onAccess` when a translated access reaches a physical address no
   * memory is mapped at; it returns whether to continue (false stops with
   * UC_ERR_*_UNMAPPED).
   */
  hookUnmappedMemory(onAccess: (kind: MemoryAccessKind, address: bigint) => boolean): void {
    const callback = koffi.register(
      (_uc: unknown, type: number, address: bigint | number) => onAccess(UNMAPPED_EVENT_KIND[type] ?? 'read', BigInt(address)),
      koffi.pointer(this.types.memoryEventHook),
    );
    this.addHook('unmapped memory', UC_HOOK_MEM_UNMAPPED, callback);
  }

  /**
   * Calls `onInstruction` before each instruction in [begin, end] runs (after
   * it was fetched and translated). Returns the hook's handle for removeHook.
   */
  hookCode(begin: bigint, end: bigint, onInstruction: (address: bigint) => void): bigint {
    // One native callback serves every code hook (koffi has a bounded number of slots).
    this.codeCallback ??= koffi.register((_uc: unknown, address: bigint | number) => {
      const at = BigInt(address);
      for (const hook of this.codeHooks.values()) if (at >= hook.begin && at <= hook.end) hook.onInstruction(at);
    }, koffi.pointer(this.types.codeHook));
    const handle = this.addHook('code', UC_HOOK_CODE, this.codeCallback, begin, end);
    this.codeHooks.set(handle, { begin, end, onInstruction });
    return handle;
  }

  removeHook(handle: bigint): void {
    this.codeHooks.delete(handle);
    check('uc_hook_del', this.api.uc_hook_del(this.handle, handle));
  }

  /** Adds a hook over [begin, end]; begin > end covers every address. */
  private addHook(what: string, type: number, callback: NativeCallback, begin = 1n, end = 0n): bigint {
    if (!this.callbacks.includes(callback)) this.callbacks.push(callback);
    const handle = new BigUint64Array(1);
    check(`uc_hook_add(${what})`, this.api.uc_hook_add(this.handle, handle, type, callback, null, begin, end));
    return handle[0]!;
  }

  /** A new saved-state slot holding the CPU's current state. */
  saveContext(): CpuContext {
    const out: NativePointer[] = [null];
    check('uc_context_alloc', this.api.uc_context_alloc(this.handle, out));
    const context = out[0];
    this.contexts.push(context);
    const size = Number(this.api.uc_context_size(this.handle));
    let view: Uint8Array | undefined;
    const slot: CpuContext = {
      save: () => check('uc_context_save', this.api.uc_context_save(this.handle, context)),
      restore: () => check('uc_context_restore', this.api.uc_context_restore(this.handle, context)),
      bytes: () => (view ??= new Uint8Array(koffi.view(context, size))),
      free: () => {
        const at = this.contexts.indexOf(context);
        if (at < 0) return;
        this.contexts.splice(at, 1);
        this.api.uc_context_free(context);
      },
    };
    slot.save();
    return slot;
  }

  /**
   * The physical address the emulator's MMU gives `address` for an access of
   * kind `prot` (UC_PROT_*) at the current privilege, or null when it would fault.
   */
  translate(address: bigint, prot: number): bigint | null {
    const out = new BigUint64Array(1);
    return this.api.uc_vmem_translate(this.handle, address, prot, out) === UC_ERR_OK ? out[0]! : null;
  }
}
