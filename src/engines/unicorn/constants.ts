/**
 * The numbers of Unicorn's C API that the binding uses, as its public headers
 * (include/unicorn/unicorn.h and x86.h, release 2.1) define them.
 */

/** uc_arch */
export const UC_ARCH_X86 = 4;

/** uc_mode */
export const UC_MODE_32 = 1 << 2;
export const UC_MODE_64 = 1 << 3;

/** uc_err: the codes the engine tells apart; others are reported by uc_strerror. */
export const UC_ERR_OK = 0;
export const UC_ERR_READ_UNMAPPED = 6;
export const UC_ERR_WRITE_UNMAPPED = 7;
export const UC_ERR_FETCH_UNMAPPED = 8;

/** uc_prot */
export const UC_PROT_READ = 1;
export const UC_PROT_WRITE = 2;
export const UC_PROT_EXEC = 4;
export const UC_PROT_ALL = 7; // read | write | exec

/** uc_hook_type */
export const UC_HOOK_INTR = 1 << 0;
export const UC_HOOK_CODE = 1 << 2;
export const UC_HOOK_MEM_READ_UNMAPPED = 1 << 4;
export const UC_HOOK_MEM_WRITE_UNMAPPED = 1 << 5;
export const UC_HOOK_MEM_FETCH_UNMAPPED = 1 << 6;
export const UC_HOOK_MEM_UNMAPPED = UC_HOOK_MEM_READ_UNMAPPED | UC_HOOK_MEM_WRITE_UNMAPPED | UC_HOOK_MEM_FETCH_UNMAPPED;

/** uc_control_type, and UC_CTL(type, nr, rw) = type | nr << 26 | rw << 30. */
const UC_CTL_IO_WRITE = 1;
const UC_CTL_CPU_MODEL = 7;
const UC_CTL_TB_FLUSH = 10;
const UC_CTL_TLB_FLUSH = 11;
const ucCtlWrite = (type: number, args: number): number => (type | (args << 26) | (UC_CTL_IO_WRITE << 30)) >>> 0;
export const UC_CTL_WRITE_CPU_MODEL = ucCtlWrite(UC_CTL_CPU_MODEL, 1);
export const UC_CTL_FLUSH_TB = ucCtlWrite(UC_CTL_TB_FLUSH, 0);
export const UC_CTL_FLUSH_TLB = ucCtlWrite(UC_CTL_TLB_FLUSH, 0);

/** uc_cpu_x86: a model with SMAP (CPUID.7.EBX bit 20), so CR4.SMAP takes effect. */
export const UC_CPU_X86_BROADWELL = 20;

/** uc_x86_reg */
export const X86_REG = {
  CS: 11,
  DS: 17,
  EAX: 19,
  EBX: 21,
  ECX: 22,
  EDI: 23,
  EDX: 24,
  EIP: 26,
  ES: 28,
  ESI: 29,
  ESP: 30,
  RAX: 35,
  RBX: 37,
  RCX: 38,
  RDI: 39,
  RDX: 40,
  RIP: 41,
  RSI: 43,
  RSP: 44,
  SS: 49,
  CR0: 50,
  CR2: 52,
  CR3: 53,
  CR4: 54,
  IDTR: 242,
  GDTR: 243,
  MSR: 248,
} as const;
