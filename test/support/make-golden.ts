/**
 * Regenerates the golden vectors with the reference generators, each era's own script:
 *   npx vite-node test/support/make-golden.ts -- REFERENCE_DIR [ZEPHYR_BUILDS_DIR]
 * REFERENCE_DIR holds gen_mmu.py (the seed), gen_mmu-v2.4.0.py, gen_mmu-v2.5.0.py,
 * gen_mmu-v2.6.0.py and gen_mmu-zephyr-2025.py (python3 with pyelftools, and
 * packaging for the 2025 one, on PYTHONPATH). With ZEPHYR_BUILDS_DIR (folders
 * holding zephyr_prebuilt.elf, gen_mmu_cmd.txt and pagetables.bin), each build
 * is also reduced to the symbols its script reads (test/fixtures/zephyr/<build>.json),
 * rebuilt into an ELF by the project's writer, and the reference's tables for that
 * ELF written to test/golden/gen/zephyr/<build>.bin; it says whether they equal the
 * build's own pagetables.bin. Each line it prints also says whether x86pt --compat
 * writes the same bytes, so a new layout that the generator gets wrong shows at
 * once. The tests themselves only read the committed files.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { kernelElf, kernelSymbolMap, symbolKernelElf, symbolKernelMaps, type SymbolKernel } from '../../src/elf/kernel.js';
import { generateForEra, type KernelSymbols } from '../../src/gen/generate.js';
import { readElf } from '../../src/elf/reader.js';
import { detectZephyrEra, type ZephyrEra } from '../../src/elf/zephyr-era.js';
import { GOLDEN_LAYOUTS } from './golden-layouts.js';
import { ERA_GOLDEN_LAYOUTS } from './era-golden-layouts.js';
import { GOLDEN_DIR } from './golden.js';
import { ZEPHYR_FIXTURE_DIR } from './zephyr-fixtures.js';

export const ERA_SCRIPTS: Readonly<Record<ZephyrEra, string>> = {
  seed: 'gen_mmu.py',
  'v2.4': 'gen_mmu-v2.4.0.py',
  'v2.5': 'gen_mmu-v2.5.0.py',
  'v2.6': 'gen_mmu-v2.6.0.py',
  '2025': 'gen_mmu-zephyr-2025.py',
};

const [referenceDir, buildsDir] = process.argv.slice(2).filter((a) => a !== '--');
if (!referenceDir) {
  process.stderr.write('usage: vite-node test/support/make-golden.ts -- REFERENCE_DIR [ZEPHYR_BUILDS_DIR]\n');
  process.exit(2);
}
const python = process.env.PYTHON ?? '/usr/bin/python3';
const work = mkdtempSync(join(tmpdir(), 'x86pt-golden-'));

async function runReference(era: ZephyrEra, elf: Uint8Array, args: readonly string[], name: string): Promise<Uint8Array> {
  const elfPath = join(work, `${name}.elf`);
  const out = join(work, `${name}.bin`);
  writeFileSync(elfPath, elf);
  await execa(python, [join(referenceDir!, ERA_SCRIPTS[era]), '-k', elfPath, '-o', out, ...args]);
  return new Uint8Array(readFileSync(out));
}

/** Symbols any era's script reads: configuration, the tables' placement, and the regions' bounds. */
const READ_CONFIG = new Set([
  'CONFIG_X86_64', 'CONFIG_X86_PAE', 'CONFIG_SRAM_BASE_ADDRESS', 'CONFIG_SRAM_SIZE', 'CONFIG_SRAM_OFFSET',
  'CONFIG_KERNEL_VM_BASE', 'CONFIG_KERNEL_VM_SIZE', 'CONFIG_KERNEL_VM_OFFSET', 'CONFIG_XIP', 'CONFIG_FLASH_BASE_ADDRESS',
  'CONFIG_FLASH_SIZE', 'CONFIG_SRAM_REGION_PERMISSIONS', 'CONFIG_GDBSTUB', 'CONFIG_COVERAGE_GCOV', 'CONFIG_USERSPACE',
  'CONFIG_X86_KPTI', 'CONFIG_ARCH_MAPS_ALL_RAM', 'CONFIG_LINKER_USE_BOOT_SECTION', 'CONFIG_LINKER_USE_PINNED_SECTION',
  'CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT', 'CONFIG_MMU_PAGE_SIZE', 'CONFIG_X86_EXTRA_PAGE_TABLE_PAGES',
  'CONFIG_HW_SHADOW_STACK', 'z_mapped_start', 'z_mapped_size', 'z_x86_pagetables_start', 'dummy_pagetables', '_lodata_end',
]);
const READ_REGIONS = /^(_image_text|_image_rodata|__text_region|__rodata_region|__gcov_bss|_locore|_lorodata|lnkr_boot|lnkr_pinned|lnkr_boot_text|lnkr_boot_rodata|lnkr_pinned_text|lnkr_pinned_rodata|__x86shadowstack)_(start|size|end)$/;

const hexOf = (v: bigint): string => `0x${v.toString(16)}`;

/** Whether x86pt --compat writes the reference's bytes for this kernel. */
function compatSays(era: ZephyrEra, kernel: KernelSymbols, args: readonly string[], reference: Uint8Array): string {
  const maps = args.filter((_, i) => args[i - 1] === '--map');
  try {
    const ours = generateForEra(kernel, { era, compat: true, maps }).bytes;
    return Buffer.from(ours).equals(reference) ? 'x86pt --compat: same' : 'x86pt --compat: DIFFERS';
  } catch (err) {
    return `x86pt --compat: refuses (${(err as Error).message})`;
  }
}

try {
  for (const [name, kernel] of Object.entries(GOLDEN_LAYOUTS)) {
    const bytes = await runReference('seed', kernelElf(kernel), [], name);
    writeFileSync(join(GOLDEN_DIR, `${name}.bin`), bytes);
    process.stdout.write(`seed/${name}: ${compatSays('seed', { symbols: kernelSymbolMap(kernel) }, [], bytes)}\n`);
  }
  for (const [era, layouts] of Object.entries(ERA_GOLDEN_LAYOUTS) as [ZephyrEra, Record<string, { kernel: SymbolKernel; args?: string[] }>][]) {
    mkdirSync(join(GOLDEN_DIR, era), { recursive: true });
    for (const [name, layout] of Object.entries(layouts)) {
      const bytes = await runReference(era, symbolKernelElf(layout.kernel), layout.args ?? [], `${era}-${name}`);
      writeFileSync(join(GOLDEN_DIR, era, `${name}.bin`), bytes);
      process.stdout.write(`${era}/${name}: ${compatSays(era, symbolKernelMaps(layout.kernel), layout.args ?? [], bytes)}\n`);
    }
  }
  if (buildsDir) {
    mkdirSync(join(GOLDEN_DIR, 'zephyr'), { recursive: true });
    mkdirSync(ZEPHYR_FIXTURE_DIR, { recursive: true });
    for (const build of readdirSync(buildsDir).sort()) {
      const dir = join(buildsDir, build);
      if (!existsSync(join(dir, 'zephyr_prebuilt.elf'))) continue;
      const elf = readElf(join(dir, 'zephyr_prebuilt.elf'));
      const symbols: Record<string, string> = {};
      const sizes: Record<string, string> = {};
      for (const [name, value] of elf.symbols) {
        if (!READ_CONFIG.has(name) && !READ_REGIONS.test(name)) continue;
        symbols[name] = hexOf(value);
        const size = elf.sizes.get(name) ?? 0n;
        if (size !== 0n) sizes[name] = hexOf(size);
      }
      const command = readFileSync(join(dir, 'gen_mmu_cmd.txt'), 'utf8').trim().split(/\s+/);
      const args = command.slice(command.indexOf('pagetables.bin') + 1);
      const era = detectZephyrEra(elf.symbols).era;
      writeFileSync(join(ZEPHYR_FIXTURE_DIR, `${build}.json`), `${JSON.stringify({ era, elfClass: elf.elfClass, args, symbols, sizes }, null, 2)}\n`);
      const kernel: SymbolKernel = {
        elfClass: elf.elfClass,
        symbols: Object.fromEntries(Object.entries(symbols).map(([n, v]) => [n, BigInt(v)])),
        sizes: Object.fromEntries(Object.entries(sizes).map(([n, v]) => [n, BigInt(v)])),
      };
      const bytes = await runReference(era, symbolKernelElf(kernel), args, build);
      writeFileSync(join(GOLDEN_DIR, 'zephyr', `${build}.bin`), bytes);
      const real = readFileSync(join(dir, 'pagetables.bin'));
      process.stdout.write(`zephyr/${build} (${era}): ${Buffer.from(bytes).equals(real) ? 'equals' : 'DIFFERS FROM'} the build's pagetables.bin; ${compatSays(era, symbolKernelMaps(kernel), args, bytes)}\n`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

