import { InputError, EXIT_BAD_INPUT, EXIT_INTERNAL } from '../core/errors.js';

/**
 * Wraps a command body: bad input becomes one line on stderr and exit 2;
 * anything else is a bug in x86pt, exit 3, its stack trace only with
 * X86PT_DEBUG=1. The body returns the exit code.
 */
export function runAction<A extends unknown[]>(
  body: (...args: A) => Promise<number> | number,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      process.exitCode = await body(...args);
    } catch (err) {
      if (err instanceof InputError) {
        process.exitCode = EXIT_BAD_INPUT;
        process.stderr.write(`x86pt: ${err.message.replace(/\s*\n\s*/g, ' ')}\n`);
      } else {
        process.exitCode = EXIT_INTERNAL;
        const detail = err instanceof Error ? err.message : String(err);
        process.stderr.write(`x86pt: internal error: ${detail.replace(/\s*\n\s*/g, ' ')}\n`);
        if (process.env.X86PT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      }
    }
  };
}
