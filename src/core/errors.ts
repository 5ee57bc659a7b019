/**
 * Bad input: a file, symbol or address the user gave is unusable. The CLI
 * prints the message on one line and exits 2; nothing is written.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Exit codes shared by every command. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
/** A bug in x86pt: anything thrown that is not an InputError. */
export const EXIT_INTERNAL = 3;

/** Runs `body`, prefixing the message of any InputError it throws with the file it concerns. */
export function namingSource<T>(source: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    if (err instanceof InputError && !err.message.startsWith(`${source}: `)) throw new InputError(`${source}: ${err.message}`);
    throw err;
  }
}
