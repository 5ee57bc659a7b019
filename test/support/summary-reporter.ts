import type { Reporter, File, Task } from 'vitest';

/** Ends a run with one plain line, `tests: N passed, N failed`, that any CI log reader understands. */
export default class SummaryReporter implements Reporter {
  onFinished(files: File[] = []): void {
    let passed = 0;
    let failed = 0;
    const visit = (task: Task): void => {
      if (task.type === 'test') {
        if (task.result?.state === 'pass') passed++;
        else if (task.result?.state === 'fail') failed++;
      }
      if ('tasks' in task) task.tasks.forEach(visit);
    };
    files.forEach(visit);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed\n`);
  }
}
