/**
 * The probe routines the emulated CPU runs, hand-assembled: every
 * instruction is given as its Intel-syntax source and its bytes, so a test
 * can assemble the source with GNU as and compare. Short jumps name a label;
 * their displacement is computed here.
 *
 * Register use (the host sets these before each run and reads them after):
 *   rsi/esi  virtual address of the page being probed (its first byte)
 *   rcx/ecx  pages left to probe, at least 1
 *   rdx      read probe, 64-bit: the signature the page should hold
 *   edx:edi  read probe, 32-bit: the same, low and high halves
 *   rax/eax  the jump probe's target; after a read mismatch, what was read
 *   ebx      after a 32-bit read mismatch, the high half of what was read
 *   rbx/ebx  execute probe: where the probed page's return stub jumps back to
 * Each loop probes one page per iteration and steps 4 KiB; it ends at its
 * `done` label, where the host stops the CPU (uc_emu_start's `until`).
 */

/** A line of a routine: a label, an instruction with fixed bytes, or a short jump to a label. */
type Line =
  | { readonly label: string }
  | { readonly asm: string; readonly bytes: readonly number[] }
  | { readonly asm: string; readonly shortJump: number; readonly to: string };

/** What a memory-access instruction of a routine touches, so a fault on it can be confirmed. */
export interface AccessSite {
  /** Offset of the instruction in the routine. */
  readonly offset: number;
  readonly kind: 'read' | 'write';
  /** Bytes past the page's first byte that the instruction accesses (CR2 = rsi + this). */
  readonly displacement: number;
}

export interface Routine {
  readonly name: string;
  readonly width: 32 | 64;
  readonly code: Uint8Array;
  /** Label offsets within `code`. */
  readonly labels: Readonly<Record<string, number>>;
  /** Instructions that access the probed page, by label. */
  readonly accesses: readonly AccessSite[];
  /** The routine as GNU as source (Intel syntax), for checking the bytes. */
  readonly source: string;
}

const imm32 = (value: number): number[] => [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];

function assemble(name: string, width: 32 | 64, lines: readonly Line[], accesses: readonly { label: string; kind: 'read' | 'write'; displacement: number }[]): Routine {
  const labels: Record<string, number> = {};
  let offset = 0;
  for (const line of lines) {
    if ('label' in line) labels[line.label] = offset;
    else offset += 'bytes' in line ? line.bytes.length : 2;
  }
  const code: number[] = [];
  const source: string[] = [];
  for (const line of lines) {
    if ('label' in line) {
      source.push(`${name}_${line.label}:`);
    } else if ('bytes' in line) {
      code.push(...line.bytes);
      source.push(`  ${line.asm}`);
    } else {
      const target = labels[line.to];
      if (target === undefined) throw new Error(`routine ${name}: no label ${line.to}`);
      const displacement = target - (code.length + 2);
      if (displacement < -128 || displacement > 127) throw new Error(`routine ${name}: ${line.to} is out of short-jump reach`);
      code.push(line.shortJump, displacement & 0xff);
      source.push(`  ${line.asm} ${name}_${line.to}`);
    }
  }
  return {
    name,
    width,
    code: Uint8Array.from(code),
    labels,
    accesses: accesses.map((a) => ({ offset: labels[a.label]!, kind: a.kind, displacement: a.displacement })),
    source: source.join('\n'),
  };
}

const JNE = 0x75; // jne/jnz rel8
const PAGE = 0x1000;

/** The end of every page loop: on to the next page, count down, back to `top` until none is left. */
function nextPage(width: 32 | 64): Line[] {
  const [si, cx] = width === 64 ? ['rsi', 'rcx'] : ['esi', 'ecx'];
  const rex = width === 64 ? [0x48] : [];
  return [
    { asm: `add ${si}, ${PAGE}`, bytes: [...rex, 0x81, 0xc6, ...imm32(PAGE)] },
    { asm: `dec ${cx}`, bytes: width === 64 ? [0x48, 0xff, 0xc9] : [0x49] },
    { asm: 'jnz', shortJump: JNE, to: 'top' },
    { label: 'done' },
  ];
}

/** Reads each page's first 8 bytes and compares them with the signature expected there; stops at `done` on the first difference. */
function readCompare(width: 32 | 64): Routine {
  if (width === 64) {
    return assemble('read_compare', 64, [
      { label: 'top' },
      { label: 'load' },
      { asm: 'mov rax, qword ptr [rsi]', bytes: [0x48, 0x8b, 0x06] },
      { asm: 'cmp rax, rdx', bytes: [0x48, 0x39, 0xd0] },
      { asm: 'jne', shortJump: JNE, to: 'done' },
      { asm: `add rsi, ${PAGE}`, bytes: [0x48, 0x81, 0xc6, ...imm32(PAGE)] },
      { asm: 'inc rdx', bytes: [0x48, 0xff, 0xc2] },
      { asm: 'dec rcx', bytes: [0x48, 0xff, 0xc9] },
      { asm: 'jnz', shortJump: JNE, to: 'top' },
      { label: 'done' },
    ], [{ label: 'load', kind: 'read', displacement: 0 }]);
  }
  return assemble('read_compare', 32, [
    { label: 'top' },
    { label: 'load_low' },
    { asm: 'mov eax, dword ptr [esi]', bytes: [0x8b, 0x06] },
    { label: 'load_high' },
    { asm: 'mov ebx, dword ptr [esi+4]', bytes: [0x8b, 0x5e, 0x04] },
    { asm: 'cmp eax, edx', bytes: [0x39, 0xd0] },
    { asm: 'jne', shortJump: JNE, to: 'done' },
    { asm: 'cmp ebx, edi', bytes: [0x39, 0xfb] },
    { asm: 'jne', shortJump: JNE, to: 'done' },
    { asm: `add esi, ${PAGE}`, bytes: [0x81, 0xc6, ...imm32(PAGE)] },
    { asm: 'inc edx', bytes: [0x42] },
    { asm: 'dec ecx', bytes: [0x49] },
    { asm: 'jnz', shortJump: JNE, to: 'top' },
    { label: 'done' },
  ], [
    { label: 'load_low', kind: 'read', displacement: 0 },
    { label: 'load_high', kind: 'read', displacement: 4 },
  ]);
}

/**
 * Reads each page's first bytes and writes the same value back: the write
 * tests the permission without changing memory, even when the page turns out
 * to be a paging structure.
 */
function writeBack(width: 32 | 64): Routine {
  const rex = width === 64 ? [0x48] : [];
  const [ax, si] = width === 64 ? ['rax', 'rsi'] : ['eax', 'esi'];
  const size = width === 64 ? 'qword' : 'dword';
  return assemble('write_back', width, [
    { label: 'top' },
    { label: 'load' },
    { asm: `mov ${ax}, ${size} ptr [${si}]`, bytes: [...rex, 0x8b, 0x06] },
    { label: 'store' },
    { asm: `mov ${size} ptr [${si}], ${ax}`, bytes: [...rex, 0x89, 0x06] },
    ...nextPage(width),
  ], [
    { label: 'load', kind: 'read', displacement: 0 },
    { label: 'store', kind: 'write', displacement: 0 },
  ]);
}

/** Reads each page's first 4 bytes; run at CPL 3 (or with CR4.SMAP at CPL 0) to test the user bit. */
function touch(width: 32 | 64): Routine {
  const si = width === 64 ? 'rsi' : 'esi';
  return assemble('touch', width, [
    { label: 'top' },
    { label: 'load' },
    { asm: `mov eax, dword ptr [${si}]`, bytes: [0x8b, 0x06] },
    ...nextPage(width),
  ], [{ label: 'load', kind: 'read', displacement: 0 }]);
}

/**
 * Jumps into each page at offset 8, where every signed page holds `jmp rbx`
 * (see memory.ts), which comes back to `back`: the fetch tests execute
 * permission, and an execute-disabled page faults with RIP and CR2 there.
 */
function execute(width: 32 | 64): Routine {
  const rex = width === 64 ? [0x48] : [];
  const [ax, si] = width === 64 ? ['rax', 'rsi'] : ['eax', 'esi'];
  return assemble('execute', width, [
    { label: 'top' },
    { asm: `lea ${ax}, [${si}+8]`, bytes: [...rex, 0x8d, 0x46, 0x08] },
    { asm: `jmp ${ax}`, bytes: [0xff, 0xe0] },
    { label: 'back' },
    ...nextPage(width),
  ], []);
}

/** Jumps to rax/eax, for pages without a return stub: a code hook stops the CPU at the target before anything there runs. */
function jumpTo(width: 32 | 64): Routine {
  return assemble('jump_to', width, [
    { label: 'jump' },
    { asm: `jmp ${width === 64 ? 'rax' : 'eax'}`, bytes: [0xff, 0xe0] },
  ], []);
}

/** Returns to CPL 3 through the interrupt-return frame rsp/esp points at (rip, cs, rflags, rsp, ss). */
function returnToUser(width: 32 | 64): Routine {
  return assemble('return_to_user', width, [
    { label: 'iret' },
    width === 64 ? { asm: 'iretq', bytes: [0x48, 0xcf] } : { asm: 'iretd', bytes: [0xcf] },
  ], []);
}

/** One instruction to run: proves the page it sits in can be executed from. */
function idle(width: 32 | 64): Routine {
  return assemble('idle', width, [{ label: 'top' }, { asm: 'nop', bytes: [0x90] }, { label: 'done' }], []);
}

export interface ProbeRoutines {
  readonly readCompare: Routine;
  readonly writeBack: Routine;
  readonly touch: Routine;
  readonly execute: Routine;
  readonly jumpTo: Routine;
  readonly returnToUser: Routine;
  readonly idle: Routine;
}

/** The routines for a CPU mode's code width. */
export function probeRoutines(width: 32 | 64): ProbeRoutines {
  return {
    readCompare: readCompare(width),
    writeBack: writeBack(width),
    touch: touch(width),
    execute: execute(width),
    jumpTo: jumpTo(width),
    returnToUser: returnToUser(width),
    idle: idle(width),
  };
}
