import { describe, expect, it } from 'vitest';
import { SH_SYNTAX, splitWords, type Quote, type WordSyntax } from '../src/core/shell-words.js';
import { shellWords } from '../src/cli/build-dir.js';
import { splitCommand } from '../src/fuzz/generators.js';
import { InputError } from '../src/core/errors.js';

/** The syntax `fuzz --generator` reads its template with. */
const LOOSE: WordSyntax = { doubleQuotedBackslash: 'any', separators: 'whitespace' };

class Open extends Error {
  constructor(readonly quote: Quote) {
    super(`open ${quote}`);
  }
}
const words = (line: string, syntax: WordSyntax = SH_SYNTAX): string[] => splitWords(line, syntax, (quote) => new Open(quote));

describe('splitting a command line into words', () => {
  it.each([['sh', SH_SYNTAX], ['loose', LOOSE]] as const)('%s: quotes group, backslashes escape, nothing is expanded', (_, syntax) => {
    expect(words('a  b\tc ', syntax)).toEqual(['a', 'b', 'c']);
    expect(words('  ', syntax)).toEqual([]);
    expect(words(`'b c' "d e"`, syntax)).toEqual(['b c', 'd e']);
    expect(words(`a'b'"c"d`, syntax)).toEqual(['abcd']);
    expect(words(`'' ""`, syntax)).toEqual(['', '']);
    expect(words(`'a\\b "c' "it's"`, syntax)).toEqual(['a\\b "c', "it's"]);
    expect(words('f\\ g \\"h \\\\', syntax)).toEqual(['f g', '"h', '\\']);
    // A backslash with nothing after it is kept.
    expect(words('a\\', syntax)).toEqual(['a\\']);
    expect(words('"d \\" e" "\\\\" "\\$x" "\\`y"', syntax)).toEqual(['d " e', '\\', '$x', '`y']);
    // Nothing is expanded.
    expect(words('$HOME "$PATH" \'$x\' `id` *', syntax)).toEqual(['$HOME', '$PATH', '$x', '`id`', '*']);
  });

  it('sh: a backslash in double quotes escapes only " \\ $ `; any other stays', () => {
    expect(words('"a\\b" "\\n" "\\\'"')).toEqual(['a\\b', '\\n', "\\'"]);
    expect(words('"\\$" "\\x"')).toEqual(['$', '\\x']);
  });

  it('loose: a backslash in double quotes escapes whatever follows', () => {
    expect(words('"a\\b" "\\n" "\\\'"', LOOSE)).toEqual(['ab', 'n', "'"]);
    expect(words('"\\$" "\\x"', LOOSE)).toEqual(['$', 'x']);
  });

  it('sh: only space and tab separate; loose: any white space', () => {
    expect(words('a\nb\rc\u00a0d')).toEqual(['a\nb\rc\u00a0d']);
    expect(words('a\nb\rc\u00a0d', LOOSE)).toEqual(['a', 'b', 'c', 'd']);
    expect(words('a\tb')).toEqual(['a', 'b']);
  });

  it.each([['sh', SH_SYNTAX], ['loose', LOOSE]] as const)('%s: a quote left open is refused with the quote', (_, syntax) => {
    expect(() => words(`a 'b`, syntax)).toThrow(new Open("'"));
    expect(() => words('a "b', syntax)).toThrow(new Open('"'));
    // An escaped closing quote leaves it open; an unquoted escaped quote opens nothing.
    expect(() => words('"b\\"', syntax)).toThrow(new Open('"'));
    expect(words('\\"b', syntax)).toEqual(['"b']);
    // A double quote inside single quotes, and the reverse, opens nothing.
    expect(words(`'"' "'"`, syntax)).toEqual(['"', "'"]);
  });
});

describe('the two readers built on it', () => {
  it('build.ninja commands: sh syntax, a one-line refusal naming the command', () => {
    expect(shellWords('python3 "/a b/gen_mmu.py" --kernel "k\\$.elf" --map \'0x1000,0x1000,W\'')).toEqual(['python3', '/a b/gen_mmu.py', '--kernel', 'k$.elf', '--map', '0x1000,0x1000,W']);
    expect(shellWords('-o "a\\b"')).toEqual(['-o', 'a\\b']);
    expect(() => shellWords('gen_mmu.py -o "out')).toThrow(new InputError('build.ninja: unterminated quote in the gen_mmu.py command'));
    expect(() => shellWords("gen_mmu.py -o 'out")).toThrow(new InputError('build.ninja: unterminated quote in the gen_mmu.py command'));
    expect(() => shellWords("gen_mmu.py -o 'out")).toThrow(InputError);
  });

  it('--generator templates: loose syntax, a refusal naming the quote and the template', () => {
    expect(splitCommand('python3\n"my \\gen.py"\t-k {kernel}')).toEqual(['python3', 'my gen.py', '-k', '{kernel}']);
    expect(() => splitCommand(`gen -o '{output}`)).toThrow(new InputError(`--generator: unbalanced ' in 'gen -o '{output}'`));
    expect(() => splitCommand('gen -o "{output}')).toThrow(new InputError(`--generator: unbalanced " in 'gen -o "{output}'`));
    expect(() => splitCommand('gen -o "{output}')).toThrow(InputError);
  });
});
