import { InputError, EXIT_BAD_INPUT } from '../core/errors.js';

/**
 * Wraps a command body: bad input becomes one line on stderr and exit 2,
 * never a stack trace. The body returns the exit code.
 */
export function runAction<A extends unknown[]>(
  body: (...args: A) => Promise<number> | number,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await body(...args);
    } catch (err) {
      process.exitCode = EXIT_BAD_INPUT;
      if (err instanceof InputError) {
        process.stderr.write(`x86pt: ${err.message}\n`);
      } else {
        const detail = err instanceof Error ? err.message : String(err);
        process.stderr.write(`x86pt: internal error: ${detail}\n`);
        if (process.env.X86PT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      }
    }
  };
}
