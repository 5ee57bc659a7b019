import { join } from 'node:path';
import type { Command } from 'commander';
import { generateTables } from '../gen/generate.js';
import { kernelElf, kernelSymbolMap, type KernelDescription } from '../elf/kernel.js';
import { ensureDirectory, writeFileAtomic } from '../core/io.js';
import { EXIT_FAILED, EXIT_OK } from '../core/errors.js';
import { runAction } from './command.js';
import { checkTables } from '../verify/check.js';
import { dumpText, verifyText } from '../verify/format.js';

interface Sample {
  readonly name: string;
  readonly title: string;
  readonly kernel: KernelDescription;
}

const KiB = 1024n;

/** One kernel per mode, each showing a different part of the job. */
const DEMO_SAMPLES: readonly Sample[] = [
  {
    name: '32bit-identity',
    title: '32-bit paging: 16 MiB identity-mapped from address 0, page 0 left unmapped, no region permissions',
    kernel: { mode: '32bit', sramBase: 0n, sramSizeKiB: 16n * KiB, pagetablesStart: 0x180000n },
  },
  {
    name: 'pae-dual',
    title: 'PAE paging: 32 MiB at 1 MiB, dual-mapped at 0xc0100000, text and rodata with their own permissions',
    kernel: {
      mode: 'pae', sramBase: 0x100000n, sramSizeKiB: 32n * KiB, kernelVmBase: 0xc0100000n, pagetablesStart: 0xc0400000n,
      regionPermissions: true,
      regions: { _image_text: { start: 0xc0100000n, size: 0x100000n }, _image_rodata: { start: 0xc0200000n, size: 0x80000n } },
    },
  },
  {
    name: 'ia32e-high-half',
    title: 'IA-32e paging: 64 MiB at 1 MiB, high-half kernel at 0xffff800000100000, KPTI locore, gcov for user mode',
    kernel: {
      mode: 'ia32e', sramBase: 0x100000n, sramSizeKiB: 64n * KiB, kernelVmBase: 0xffff800000100000n,
      pagetablesStart: 0xffff800000800000n, regionPermissions: true, kpti: true, userspace: true, coverageGcov: true,
      regions: {
        _locore: { start: 0x100000n, size: 0x4000n }, _lorodata: { start: 0x104000n, size: 0x2000n },
        _image_text: { start: 0xffff800000200000n, size: 0x200000n }, _image_rodata: { start: 0xffff800000400000n, size: 0x100000n },
        __gcov_bss: { start: 0xffff800000600000n, size: 0x10000n },
      },
    },
  },
];

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('generate and verify tables for three sample kernels (one per paging mode); needs no files')
    .option('--out <dir>', 'also write each sample kernel (NAME.elf) and its tables (NAME.bin) into this directory')
    .addHelpText('after', '\nExit status: 0 when every sample verifies, 1 otherwise.')
    .action(
      runAction(async (options: { out?: string }) => {
        if (options.out) ensureDirectory(options.out);
        let failed = 0;
        for (const sample of DEMO_SAMPLES) {
          const symbols = kernelSymbolMap(sample.kernel);
          const tables = generateTables(symbols);
          const result = await checkTables({ symbols, tables: tables.bytes });
          if (!result.ok) failed++;
          const tablesFile = `${sample.name}.bin`;
          process.stdout.write(`\n== ${sample.title}\n`);
          process.stdout.write(dumpText({
            mode: result.mode,
            tablesFile,
            tablesPhys: tables.tablesPhys,
            tableBytes: tables.bytes.length,
            topTablePhys: tables.topLevelPhys,
            ranges: result.actual,
            violations: result.violations,
          }));
          process.stdout.write(verifyText(result, { tablesFile, kernelFile: `${sample.name}.elf` }));
          if (options.out) {
            await writeFileAtomic(join(options.out, `${sample.name}.elf`), kernelElf(sample.kernel));
            await writeFileAtomic(join(options.out, tablesFile), tables.bytes);
          }
        }
        return failed === 0 ? EXIT_OK : EXIT_FAILED;
      }),
    );
}
