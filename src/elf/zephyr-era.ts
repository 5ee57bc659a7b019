import { InputError } from '../core/errors.js';

/**
 * The contracts between a Zephyr build and its gen_mmu.py, one per shipped
 * version of the script: which symbols it reads and what it builds from them.
 */
export type ZephyrEra = 'seed' | 'v2.4' | 'v2.5' | 'v2.6' | '2025';

/** Oldest first. */
export const ZEPHYR_ERAS: readonly ZephyrEra[] = ['seed', 'v2.4', 'v2.5', 'v2.6', '2025'];

export const ERA_TITLES: Readonly<Record<ZephyrEra, string>> = {
  seed: 'June 2020 development tree (dual mapping at CONFIG_KERNEL_VM_BASE)',
  'v2.4': 'Zephyr v2.4 (identity map of RAM)',
  'v2.5': 'Zephyr v2.5 (kernel image and the kernel VM window)',
  'v2.6': 'Zephyr v2.6 (virtual linking, --map, boot and pinned sections)',
  '2025': 'Zephyr 2025 (text/rodata regions, demand paging, shadow stacks)',
};

export interface EraDecision {
  readonly era: ZephyrEra;
  /** The symbols whose presence or absence decided, e.g. '+z_mapped_start', '-CONFIG_KERNEL_VM_OFFSET'. */
  readonly decidedBy: readonly string[];
}

export const isZephyrEra = (name: string): name is ZephyrEra => (ZEPHYR_ERAS as readonly string[]).includes(name);

/**
 * Tells the era from the symbols alone, as each era's linker script and
 * Kconfig emit them: `z_mapped_start` from v2.5 on, CONFIG_KERNEL_VM_OFFSET
 * from v2.6 on, `__text_region_start` instead of `_image_text_start` in 2025,
 * and CONFIG_KERNEL_VM_BASE before v2.5 only in the development tree.
 * Throws InputError naming the deciding symbols when none fits or two do.
 */
export function detectZephyrEra(symbols: ReadonlyMap<string, bigint>): EraDecision {
  const mark = (name: string): string => `${symbols.has(name) ? '+' : '-'}${name}`;
  const has = (name: string): boolean => symbols.has(name);
  if (!has('CONFIG_SRAM_BASE_ADDRESS')) {
    throw new InputError('fits no Zephyr era: no CONFIG_SRAM_BASE_ADDRESS (every gen_mmu.py reads it)');
  }
  const newRegions = has('__text_region_start');
  const oldRegions = has('_image_text_start');
  if (newRegions && oldRegions) {
    throw new InputError('ambiguous Zephyr era: both __text_region_start (2025) and _image_text_start (v2.6 and older) are defined; choose with --zephyr');
  }
  if (has('z_mapped_start')) {
    if (!has('CONFIG_KERNEL_VM_BASE')) {
      throw new InputError('fits no Zephyr era: z_mapped_start (v2.5 and later) without CONFIG_KERNEL_VM_BASE, which those eras read');
    }
    if (!has('CONFIG_KERNEL_VM_OFFSET')) {
      if (newRegions) throw new InputError('fits no Zephyr era: __text_region_start (2025) without CONFIG_KERNEL_VM_OFFSET (v2.6 and later)');
      return { era: 'v2.5', decidedBy: ['+z_mapped_start', '-CONFIG_KERNEL_VM_OFFSET'] };
    }
    if (newRegions) return { era: '2025', decidedBy: ['+z_mapped_start', '+CONFIG_KERNEL_VM_OFFSET', '+__text_region_start'] };
    if (oldRegions) return { era: 'v2.6', decidedBy: ['+z_mapped_start', '+CONFIG_KERNEL_VM_OFFSET', '+_image_text_start'] };
    throw new InputError(
      'ambiguous Zephyr era: z_mapped_start and CONFIG_KERNEL_VM_OFFSET fit v2.6 and 2025, and neither _image_text_start (v2.6)' +
      ' nor __text_region_start (2025) is defined; choose with --zephyr',
    );
  }
  if (newRegions) throw new InputError('fits no Zephyr era: __text_region_start (2025) without z_mapped_start');
  return has('CONFIG_KERNEL_VM_BASE')
    ? { era: 'seed', decidedBy: ['-z_mapped_start', mark('CONFIG_KERNEL_VM_BASE')] }
    : { era: 'v2.4', decidedBy: ['-z_mapped_start', mark('CONFIG_KERNEL_VM_BASE')] };
}
