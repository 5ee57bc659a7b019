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

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known words closest to a mistyped one (at most a third of its letters off), or []. */
export function closestWords(word: string, known: readonly string[]): string[] {
  const bare = (w: string): string => w.replace(/^-+/, '');
  let best = Infinity;
  let found: string[] = [];
  for (const candidate of known) {
    const distance = editDistance(bare(word), bare(candidate));
    if (distance > Math.max(1, Math.floor(bare(word).length / 3)) || distance > best) continue;
    if (distance < best) found = [];
    best = distance;
    found.push(candidate);
  }
  return found;
}

/** "(did you mean X?)" text for a mistyped word, or ''. */
export function didYouMean(word: string, known: readonly string[]): string {
  const close = closestWords(word, known);
  return close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : '';
}
