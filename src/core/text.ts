/** How addresses and sizes read in messages and reports, everywhere in x86pt. */

export const hex = (value: bigint): string => `0x${value.toString(16)}`;

const UNITS: readonly [bigint, string][] = [[1n << 40n, 'TiB'], [1n << 30n, 'GiB'], [1n << 20n, 'MiB'], [1n << 10n, 'KiB']];

/** '4 KiB', '64 MiB', 1.5 MiB as '1536 KiB', '12 bytes'. */
export function formatSize(bytes: bigint): string {
  for (const [unit, name] of UNITS) if (bytes >= unit && bytes % unit === 0n) return `${bytes / unit} ${name}`;
  return `${bytes} bytes`;
}

/** A share as a percentage with one decimal ('0.0%' of nothing). */
export const percent = (part: number, whole: number): string => `${whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0'}%`;
