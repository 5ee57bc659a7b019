import type { Engine, EngineInput } from '../../verify/model.js';
import { qemuVersion, runQemuCases, type QemuCaseResult, type QemuReport, type QemuRunOptions } from './harness.js';

export type { QemuCaseResult, QemuReport, QemuRunOptions } from './harness.js';

/**
 * The QEMU engine: boots a stub under qemu-system-x86_64 that installs the
 * tables as the mode's early boot does and probes every expected page (and
 * its neighbours) for read, write, execute and user access, and cross-checks
 * QEMU's own MMU against the walker.
 */
export interface QemuEngine extends Engine {
  readonly name: 'qemu';
  /** One table set in one boot; throws InputError when QEMU cannot host the layout. */
  run(input: EngineInput): Promise<QemuReport>;
  /**
   * Many table sets, several per boot (the stub switches CR3 between them);
   * results in input order, a refused layout as `{ ok: false, error }`.
   */
  runBatch(inputs: readonly EngineInput[]): Promise<QemuCaseResult[]>;
}

export async function createQemuEngine(options: QemuRunOptions = {}): Promise<QemuEngine> {
  await qemuVersion(); // fail now, not per case, when QEMU is missing
  return {
    name: 'qemu',
    async run(input) {
      const [result] = await runQemuCases([input], options);
      if (!result!.ok) throw result!.error;
      return result!.report;
    },
    runBatch: (inputs) => runQemuCases(inputs, options),
  };
}
