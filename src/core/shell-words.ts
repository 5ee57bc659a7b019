/**
 * Splits a command line into words the way a shell reads quotes and
 * backslashes, without running one and without expanding anything: the
 * commands build.ninja runs, and `fuzz --generator` templates.
 */

/** How the line is read where readers of command lines differ. */
export interface WordSyntax {
  /**
   * What a backslash escapes inside double quotes: 'sh', only `"`, `\`, `$`
   * and `` ` `` (any other backslash stays, as sh keeps it); 'any', the next
   * character, whatever it is.
   */
  readonly doubleQuotedBackslash: 'sh' | 'any';
  /** What separates words outside quotes: 'blanks', space and tab (sh); 'whitespace', any white space. */
  readonly separators: 'blanks' | 'whitespace';
}

/** The syntax sh reads a command with. */
export const SH_SYNTAX: WordSyntax = { doubleQuotedBackslash: 'sh', separators: 'blanks' };

export type Quote = '"' | "'";

const SH_DOUBLE_QUOTED_ESCAPES = '"\\$`';

/**
 * The words of `line`: single quotes keep everything up to the next one,
 * double quotes keep everything but what `syntax` lets a backslash escape,
 * an unquoted backslash keeps the next character, and a quoted empty string
 * is a word. A quote left open is `unterminated(quote)`, thrown.
 */
export function splitWords(line: string, syntax: WordSyntax, unterminated: (quote: Quote) => Error): string[] {
  const escapable = syntax.doubleQuotedBackslash === 'sh' ? (c: string) => SH_DOUBLE_QUOTED_ESCAPES.includes(c) : () => true;
  const separates = syntax.separators === 'blanks' ? (c: string) => c === ' ' || c === '\t' : (c: string) => /\s/.test(c);
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: Quote | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < line.length && escapable(line[i + 1]!)) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (separates(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw unterminated(quote);
  if (inWord) words.push(word);
  return words;
}
