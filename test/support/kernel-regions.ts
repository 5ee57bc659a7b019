/** Shorthand for the region part of a kernel description, shared by the layout tables. */
import type { KernelDescription, Region, RegionName } from '../../src/elf/kernel.js';

/** A region as [start, size]. */
export type RegionSpan = readonly [start: bigint, size: bigint];

/**
 * CONFIG_SRAM_REGION_PERMISSIONS with `_image_text` and `_image_rodata` at
 * the given spans, then any further regions in the order given.
 */
export function textRodataPerms(
  text: RegionSpan, rodata: RegionSpan, more: Partial<Record<RegionName, RegionSpan>> = {},
): Pick<KernelDescription, 'regionPermissions' | 'regions'> {
  const regions: Partial<Record<RegionName, Region>> = {
    _image_text: { start: text[0], size: text[1] }, _image_rodata: { start: rodata[0], size: rodata[1] },
  };
  for (const [name, [start, size]] of Object.entries(more) as [RegionName, RegionSpan][]) regions[name] = { start, size };
  return { regionPermissions: true, regions };
}
