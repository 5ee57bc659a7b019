/** Hand-built table blocks with every page size and every way a walk can stop, one per mode. */
import type { TableBlock } from '../../src/verify/walker.js';
import { P, PS, RW, TableBlockBuilder, US, XD } from './verify-tables.js';
import { writeScratch } from './cli.js';

export const G = 0x100n;
export const A = 0x20n;
export const D = 0x40n;
export const PCD = 0x10n;

/**
 * 32-bit: PDE 0 -> PT (PTE 5 4 KiB rw user, PTE 6 not present), PDE 1 a 4 MiB page, PDE 2 not present,
 * PDE 3 a PSE-36 4 MiB page above 4 GiB, PDE 4 a 4 MiB page with reserved bit 21, PDE 5 -> outside.
 */
export function thirtyTwoBitBlock(): TableBlock {
  const t = new TableBlockBuilder('32bit', 0x10000n, 1);
  const [pt, pd] = [0, t.top];
  t.set(pd, 0, t.tableAddr(pt) | P | RW | US);
  t.set(pt, 5, 0x5000n | P | RW | US | G | A);
  t.set(pd, 1, 0xc00000n | P | RW | PS | D | A);
  t.set(pd, 3, 0x400000n | (3n << 13n) | P | PS);
  t.set(pd, 4, 0x400000n | (1n << 21n) | P | PS);
  t.set(pd, 5, 0x40000000n | P | RW);
  return { mode: '32bit', tables: t.bytes, tablesPhys: t.base };
}

/**
 * PAE: PDPTE 0 -> PD (PDE 0 -> PT with PTE 1 4 KiB, PDE 1 a 2 MiB page, PDE 2 -> outside,
 * PDE 3 2 MiB with reserved bit 13), PDPTE 1 not present, PDPTE 2 with R/W set (reserved in a PDPTE) -> PD.
 */
export function paeBlock(): TableBlock {
  const t = new TableBlockBuilder('pae', 0x100000n, 2);
  const [pd, pt, pdpt] = [0, 1, t.top];
  t.set(pdpt, 0, t.tableAddr(pd) | P);
  t.set(pd, 0, t.tableAddr(pt) | P | RW | US);
  t.set(pt, 1, 0x1000n | P | RW | XD);
  t.set(pd, 1, 0x200000n | P | RW | PS | PCD);
  t.set(pd, 2, 0x7000000n | P | RW);
  t.set(pd, 3, 0x600000n | (1n << 13n) | P | PS);
  t.set(pdpt, 2, t.tableAddr(pd) | P | RW);
  return { mode: 'pae', tables: t.bytes, tablesPhys: t.base };
}

/**
 * IA-32e: PML4E 0 -> PDPT (PDPTE 0 -> PD, PDPTE 1 a 1 GiB page, PDPTE 2 not present, PDPTE 3 -> outside),
 * PD: PDE 0 -> PT (PTE 0 4 KiB, PTE 1 not present, PTE 2 XD), PDE 1 a 2 MiB page, PDE 2 not present;
 * PML4E 1 with PS (reserved in a PML4E); PML4E 2 not present; PML4E 511 -> the same PDPT (upper half).
 */
export function ia32eBlock(): TableBlock {
  const t = new TableBlockBuilder('ia32e', 0x200000n, 3);
  const [pdpt, pd, pt, pml4] = [0, 1, 2, t.top];
  t.set(pml4, 0, t.tableAddr(pdpt) | P | RW | US);
  t.set(pml4, 1, t.tableAddr(pdpt) | P | RW | PS);
  t.set(pml4, 511, t.tableAddr(pdpt) | P | RW);
  t.set(pdpt, 0, t.tableAddr(pd) | P | RW | US);
  t.set(pdpt, 1, 0x40000000n | P | RW | US | PS);
  t.set(pdpt, 3, 0x80000000n | P | RW);
  t.set(pd, 0, t.tableAddr(pt) | P | RW | US);
  t.set(pt, 0, 0x0n | P | RW | US);
  t.set(pt, 2, 0x2000n | P | US | XD);
  t.set(pd, 1, 0x400000n | P | PS | G);
  return { mode: 'ia32e', tables: t.bytes, tablesPhys: t.base };
}

/** ia32eBlock() written into `dir`, and the arguments that place it (FILE --mode ia32e --base 0x200000). */
export function ia32eFile(dir: string): { block: TableBlock; file: string; placed: string[] } {
  const block = ia32eBlock();
  const file = writeScratch(dir, 'ia32e.bin', block.tables);
  return { block, file, placed: [file, '--mode', 'ia32e', '--base', '0x200000'] };
}
