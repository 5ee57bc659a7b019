/** Architectural bits the engine sets or reads, as the Intel SDM (Vol. 3A) names them. */

/** #PF error code (4.7). */
export const PF_PRESENT = 1 << 0;
export const PF_WRITE = 1 << 1;
export const PF_USER = 1 << 2;
export const PF_RESERVED = 1 << 3;
export const PF_FETCH = 1 << 4;

/** Control registers (2.5). */
export const CR0_WP = 1n << 16n;
export const CR0_PG = 1n << 31n;
export const CR4_PSE = 1n << 4n;
export const CR4_PAE = 1n << 5n;
export const CR4_SMAP = 1n << 21n;

/** IA32_EFER (2.2.1). */
export const MSR_EFER = 0xc0000080;
export const EFER_NXE = 1n << 11n;

/** The page-fault vector (6.15). */
export const VECTOR_PAGE_FAULT = 14;
