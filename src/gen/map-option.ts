import { InputError } from '../core/errors.js';

/** How an era's script turns a `--map` number into an integer: Python's int(text, 16) or int(text, 0). */
export type NumberSyntax = 'hex' | 'auto';

/** One `--map phys,size[,flags[,virt]]` as the script understood it. */
export interface ExtraMapping {
  /** The argument as given, for messages. */
  readonly argument: string;
  readonly phys: bigint;
  readonly size: bigint;
  readonly virt: bigint;
  readonly large: boolean;
  readonly user: boolean;
  readonly writable: boolean;
  readonly executable: boolean;
  readonly cacheDisabled: boolean;
}

const HEX = /^([+-]?)(?:0[xX]_?)?([0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)$/;
const AUTO = /^([+-]?)(?:0[xX]_?([0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)|0[oO]_?([0-7]+(?:_[0-7]+)*)|0[bB]_?([01]+(?:_[01]+)*)|([1-9](?:_?[0-9])*|0(?:_?0)*))$/;

/**
 * Python's int(text, 16) or int(text, 0) for ASCII text: surrounding
 * whitespace, a sign, the base prefix and single underscores between digits
 * are accepted; anything else is undefined (the script raises ValueError).
 */
export function parsePythonInt(text: string, syntax: NumberSyntax): bigint | undefined {
  const trimmed = text.trim();
  if (syntax === 'hex') {
    const m = HEX.exec(trimmed);
    if (!m) return undefined;
    const value = BigInt(`0x${m[2]!.replaceAll('_', '')}`);
    return m[1] === '-' ? -value : value;
  }
  const m = AUTO.exec(trimmed);
  if (!m) return undefined;
  const [, sign, hexDigits, octDigits, binDigits, decDigits] = m;
  const clean = (s: string) => s.replaceAll('_', '');
  const value = hexDigits !== undefined ? BigInt(`0x${clean(hexDigits)}`)
    : octDigits !== undefined ? BigInt(`0o${clean(octDigits)}`)
      : binDigits !== undefined ? BigInt(`0b${clean(binDigits)}`)
        : BigInt(clean(decDigits!));
  return sign === '-' ? -value : value;
}

/** re.match('^[LUWXD]*$'): `$` also matches before a final newline. */
const FLAG_LETTERS = /^[LUWXD]*\n?$/;

/**
 * Parses `--map` arguments as the v2.6 and 2025 scripts do: comma-separated,
 * at least two fields, fields past the fourth ignored, the virtual address
 * (default: the physical one) always hex.
 */
export function parseExtraMapping(argument: string, numbers: NumberSyntax): ExtraMapping {
  const fields = argument.split(',');
  if (fields.length < 2) throw new InputError(`--map ${argument}: needs at least <physical address>,<size>`);
  const number = (text: string, what: string, syntax: NumberSyntax): bigint => {
    const value = parsePythonInt(text, syntax);
    if (value === undefined) {
      throw new InputError(`--map ${argument}: ${what} '${text}' is not a ${syntax === 'hex' ? 'hexadecimal' : 'Python integer'} number`);
    }
    if (value < 0n) throw new InputError(`--map ${argument}: ${what} ${text} is negative`);
    return value;
  };
  const phys = number(fields[0]!, 'physical address', numbers);
  const size = number(fields[1]!, 'size', numbers);
  const letters = fields[2] ?? '';
  if (!FLAG_LETTERS.test(letters)) throw new InputError(`--map ${argument}: unrecognized flags '${letters}' (allowed: L U W X D)`);
  const virt = fields.length > 3 ? number(fields[3]!, 'virtual address', 'hex') : phys;
  return {
    argument,
    phys,
    size,
    virt,
    large: letters.includes('L'),
    user: letters.includes('U'),
    writable: letters.includes('W'),
    executable: letters.includes('X'),
    cacheDisabled: letters.includes('D'),
  };
}
