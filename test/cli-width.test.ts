/** Every line of demo, dump and verify output fits 120 columns (run from the files' directory, as a build does). */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { CLI, scratchDir } from './support/cli.js';
import { wrapLine } from '../src/verify/format.js';

const dir = scratchDir('x86pt-cli-width-');
const run = async (args: string[]) => (await execa('node', [CLI, ...args], { cwd: dir, reject: false, timeout: 120_000 })).stdout;
const tooWide = (text: string): string[] => text.split('\n').filter((line) => line.length > 120);

describe('output width', () => {
  it('demo, dump and verify (passing, failing, moved tables) stay within 120 columns', async () => {
    const demo = await run(['demo', '--out', join(dir, 'out')]);
    expect(demo).toMatch(/== PAE paging/);
    expect(tooWide(demo)).toEqual([]);
    const outputs = await Promise.all([
      run(['dump', 'out/pae-dual.bin', '-k', 'out/pae-dual.elf']),
      run(['dump', 'out/pae-dual.bin', '--mode', 'pae', '--base', '0x500000']),
      run(['verify', 'out/ia32e-high-half.bin', '-k', 'out/ia32e-high-half.elf']),
      run(['verify', 'out/ia32e-high-half.bin', '-k', 'out/32bit-identity.elf']),
      run(['verify', 'out/pae-dual.bin', '-k', 'out/ia32e-high-half.elf']),
    ]);
    // The failing ones carry violations, whose lines reached 200 columns before wrapping.
    expect(outputs[1]).toMatch(/outside the tables given/);
    expect(outputs[3]).toMatch(/^FAIL/);
    // verify's verdict stays one line, whatever the paths, so `grep '^FAIL:'` in a log gets it whole.
    for (const text of outputs) expect(tooWide(text).filter((line) => !/^(OK|FAIL): /.test(line))).toEqual([]);
  });

  it('wrapLine breaks at spaces and indents continuation lines', () => {
    const line = `  PDE 0 at 0x1000: ${'word '.repeat(40).trim()}`;
    const lines = wrapLine(line);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((l) => l.length <= 120)).toBe(true);
    expect(lines.slice(1).every((l) => l.startsWith('      ') && !l.startsWith('       '))).toBe(true);
    expect(lines.map((l) => l.trim()).join(' ')).toBe(line.trim());
    expect(wrapLine('short')).toEqual(['short']);
  });
});
