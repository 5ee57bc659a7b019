import { join } from 'node:path';
import type { Command } from 'commander';
import { generateForEra } from '../gen/generate.js';
import { kernelElf, kernelSymbolMap, symbolKernelElf, symbolKernelMaps, type KernelDescription, type SymbolKernel } from '../elf/kernel.js';
import { mappedBytes } from '../verify/ranges.js';
import { ensureDirectory, writeFileAtomic } from '../core/io.js';
import { EXIT_FAILED, EXIT_OK } from '../core/errors.js';
import { runAction } from './command.js';
import { checkTables, type VerifyResult } from '../verify/check.js';
import { dumpText, verifyText, wrapText } from '../verify/format.js';

/** A sample kernel as its ELF carries it: symbols, the sizes of those that have one, and the file itself. */
export interface DemoSample {
  readonly name: string;
  readonly title: string;
  readonly symbols: ReadonlyMap<string, bigint>;
  readonly sizes: ReadonlyMap<string, bigint>;
  readonly elf: () => Uint8Array;
}

const described = (name: string, title: string, kernel: KernelDescription): DemoSample =>
  ({ name, title, symbols: kernelSymbolMap(kernel), sizes: new Map(), elf: () => kernelElf(kernel) });

const bySymbols = (name: string, title: string, kernel: SymbolKernel): DemoSample =>
  ({ name, title, ...symbolKernelMaps(kernel), elf: () => symbolKernelElf(kernel) });

const KiB = 1024n;

/** One seed-contract kernel per mode, each showing a different part of the job, then one of today's contract. */
const SEED_SAMPLES: readonly DemoSample[] = [
  described(
    '32bit-identity',
    '32-bit paging: 16 MiB identity-mapped from address 0, page 0 left unmapped, no region permissions',
    { mode: '32bit', sramBase: 0n, sramSizeKiB: 16n * KiB, pagetablesStart: 0x180000n },
  ),
  described(
    'pae-dual',
    'PAE paging: 32 MiB at 1 MiB, dual-mapped at 0xc0100000, text and rodata with their own permissions',
    {
      mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 32n * KiB, kernelVmBase: 0xc0100000n, pagetablesStart: 0xc0400000n,
      regionPermissions: true,
      regions: { _image_text: { start: 0xc0100000n, size: 0x100000n }, _image_rodata: { start: 0xc0200000n, size: 0x80000n } },
    },
  ),
  described(
    'ia32e-high-half',
    'IA-32e paging: 64 MiB at 1 MiB, high-half kernel at 0xffff800000100000, KPTI locore, gcov for user mode',
    {
      mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 64n * KiB, kernelVmBase: 0xffff800000100000n,
      pagetablesStart: 0xffff800000800000n, regionPermissions: true, kpti: true, userspace: true, coverageGcov: true,
      regions: {
        _locore: { start: 0x100000n, size: 0x4000n }, _lorodata: { start: 0x104000n, size: 0x2000n },
        _image_text: { start: 0xffff800000200000n, size: 0x200000n }, _image_rodata: { start: 0xffff800000400000n, size: 0x100000n },
        __gcov_bss: { start: 0xffff800000600000n, size: 0x10000n },
      },
    },
  ),
];

/** Today's contract (the 2025 gen_mmu.py): a kernel linked at 0x40000000 and loaded at 4 MiB, as its symbols say. */
const MODERN_SAMPLE = bySymbols(
  'ia32e-2025',
  'Zephyr 2025 contract, IA-32e: image linked at 0x40000000 and loaded at 4 MiB, boot identity map in 2 MiB pages, text/rodata regions, shadow stack',
  {
    elfClass: 64,
    symbols: {
      CONFIG_X86_64: 1n, CONFIG_SRAM_BASE_ADDRESS: 0n, CONFIG_SRAM_SIZE: 16n * KiB, CONFIG_SRAM_OFFSET: 0x400000n,
      CONFIG_KERNEL_VM_BASE: 0x40000000n, CONFIG_KERNEL_VM_SIZE: 0x800000n, CONFIG_KERNEL_VM_OFFSET: 0n, CONFIG_MMU_PAGE_SIZE: 0x1000n,
      CONFIG_LINKER_GENERIC_SECTIONS_PRESENT_AT_BOOT: 1n, CONFIG_SRAM_REGION_PERMISSIONS: 1n, CONFIG_HW_SHADOW_STACK: 1n,
      z_mapped_start: 0x40000000n, z_mapped_size: 0x40000n, z_x86_pagetables_start: 0x40030000n,
      _locore_start: 0x1000n, _lodata_end: 0x8000n,
      __text_region_start: 0x40000000n, __text_region_end: 0x40010000n, __rodata_region_start: 0x40010000n, __rodata_region_size: 0x8000n,
      __x86shadowstack_start: 0x40020000n, __x86shadowstack_size: 0x2000n,
      _locore_size: 0x2000n, _lorodata_start: 0x3000n, _lorodata_size: 0x1000n,
    },
  },
);

export const DEMO_SAMPLES: readonly DemoSample[] = [...SEED_SAMPLES, MODERN_SAMPLE];

/** A sample's tables: its era's, as the generator builds them by default. */
export const demoTables = (sample: DemoSample) => generateForEra({ symbols: sample.symbols, sizes: sample.sizes });

/** The verifier's whole check of a sample's tables: the spec of the sample's era, the SDM walker's translations and architectural checks. */
export const checkDemoSample = (sample: DemoSample, tables: Uint8Array): Promise<VerifyResult> =>
  checkTables({ symbols: sample.symbols, sizes: sample.sizes, tables });

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('generate and verify tables for four sample kernels (one per paging mode, and one of the 2025 contract); needs no files')
    .option('--out <dir>', 'also write each sample kernel (NAME.elf) and its tables (NAME.bin) into this directory')
    .addHelpText('after', '\nExit status: 0 when every sample verifies, 1 otherwise.')
    .action(
      runAction(async (options: { out?: string }) => {
        if (options.out) ensureDirectory(options.out);
        let failed = 0;
        for (const sample of DEMO_SAMPLES) {
          const tables = demoTables(sample);
          const result = await checkDemoSample(sample, tables.bytes);
          if (!result.ok) failed++;
          const tablesFile = `${sample.name}.bin`;
          process.stdout.write(`\n${wrapText(`== ${sample.title}`)}\n`);
          process.stdout.write(dumpText({
            mode: result.mode,
            tablesFile,
            tablesPhys: tables.tablesPhys,
            tableBytes: tables.bytes.length,
            topTablePhys: tables.topLevelPhys,
            ranges: result.actual,
            violations: result.violations,
          }));
          process.stdout.write(wrapText(verifyText(result, { tablesFile, kernelFile: `${sample.name}.elf` })));
          process.stdout.write(`architectural checks: ${result.violations.length} violations (era ${tables.era}, ${mappedBytes(result.actual) / 4096n} pages mapped)\n`);
          if (options.out) {
            await writeFileAtomic(join(options.out, `${sample.name}.elf`), sample.elf());
            await writeFileAtomic(join(options.out, tablesFile), tables.bytes);
          }
        }
        return failed === 0 ? EXIT_OK : EXIT_FAILED;
      }),
    );
}
