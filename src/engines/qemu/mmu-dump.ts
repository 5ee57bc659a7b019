/**
 * QEMU's own view of a translation, from its monitor: `info tlb` lists every
 * mapped page with its physical address and its leaf entry's flags; `info
 * mem` gives user and writable combined across all levels. Neither shows a
 * non-leaf XD bit, so executability read here can only be refuted by the
 * leaf, never confirmed.
 */
import type { MappedRange, PagingMode } from '../../verify/model.js';
import { coalesceRanges } from '../../verify/ranges.js';

/** Physical address bits of a leaf as `info tlb` prints it (PAE puts bit 63 into that column). */
const FRAME_MASK = 0x000ffffffffff000n;
const PAGE = 4096n;

interface Protection {
  readonly start: bigint;
  readonly end: bigint;
  readonly user: boolean;
  readonly writable: boolean;
}

const TLB_LINE = /^([0-9a-f]+): ([0-9a-f]+) ([-A-Z]{9})\s*$/;
const MEM_LINE = /^([0-9a-f]+)-([0-9a-f]+) [0-9a-f]+ ([-u])([-r])([-w])\s*$/;

function parseProtections(mem: string): Protection[] {
  const out: Protection[] = [];
  for (const line of mem.split('\n')) {
    const m = MEM_LINE.exec(line.trim());
    if (m) out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), user: m[3] === 'u', writable: m[5] === 'w' });
  }
  return out;
}

/**
 * Every translation QEMU's MMU holds, as maximal ranges. Executable means
 * the leaf has no XD bit (always, in 32-bit paging).
 */
export function mmuTranslations(mode: PagingMode, tlb: string, mem: string): MappedRange[] {
  const protections = parseProtections(mem);
  const lines: { virt: bigint; phys: bigint; flags: string }[] = [];
  for (const line of tlb.split('\n')) {
    const m = TLB_LINE.exec(line.trim());
    if (m) lines.push({ virt: BigInt(`0x${m[1]}`), phys: BigInt(`0x${m[2]}`) & FRAME_MASK, flags: m[3]! });
  }
  const pages: MappedRange[] = [];
  let p = 0;
  lines.forEach(({ virt, phys, flags }, i) => {
    while (p < protections.length && protections[p]!.end <= virt) p++;
    const prot = protections[p] && protections[p]!.start <= virt ? protections[p]! : undefined;
    const size = flags[2] === 'P' ? largePageSize(mode, virt, lines[i + 1]?.virt, prot) : PAGE;
    pages.push({
      virt,
      phys,
      size,
      writable: prot?.writable ?? false,
      user: prot?.user ?? false,
      executable: mode === '32bit' || flags[0] !== 'X',
    });
  });
  return coalesceRanges(pages);
}

const GIB = 1n << 30n;

/**
 * `info tlb` prints one line per large page without its size: 4 MiB in 32-bit
 * paging; in IA-32e a 1 GiB-aligned line is a 1 GiB page only when nothing
 * else is listed inside that GiB and `info mem` shows it mapped throughout.
 */
function largePageSize(mode: PagingMode, virt: bigint, next: bigint | undefined, prot: Protection | undefined): bigint {
  if (mode === '32bit') return 4n << 20n;
  const gigantic = mode === 'ia32e' && virt % GIB === 0n && (next === undefined || next >= virt + GIB) && prot !== undefined && prot.end >= virt + GIB;
  return gigantic ? GIB : 2n << 20n;
}
