import { describe, expect, it } from 'vitest';
import { layerProblems, projectRoot, readArrows, type Arrow } from './support/layers.js';

describe('the layers, read off the imports', () => {
  const arrows = readArrows(projectRoot());

  it('reads the imports of the whole tree', () => {
    // A reader that found nothing would pass everything.
    expect(arrows.length).toBeGreaterThan(150);
    expect(arrows).toContainEqual({ from: 'src/engines/walker.ts', to: 'src/verify/walker.ts' });
  });

  it('has no forbidden arrow and no folder-level cycle', () => {
    expect(layerProblems(arrows)).toEqual([]);
  });

  const refused: [string, Arrow[]][] = [
    ['the verifier importing the generator', [{ from: 'src/verify/spec.ts', to: 'src/gen/layout.ts' }]],
    ['an engine importing the CLI', [{ from: 'src/engines/qemu/harness.ts', to: 'src/cli/command.ts' }]],
    ['fuzzing importing the generator outside its adapter', [{ from: 'src/fuzz/properties.ts', to: 'src/gen/generate.ts' }]],
    ['the generator importing the verifier', [{ from: 'src/gen/tables.ts', to: 'src/verify/model.ts' }]],
    ['the plumbing importing anything', [{ from: 'src/core/io.ts', to: 'src/elf/reader.ts' }]],
    ['an import from outside src/', [{ from: 'src/verify/check.ts', to: 'test/support/cli.ts' }]],
  ];
  it.each(refused)('refuses %s', (_, extra) => {
    const problems = layerProblems([...arrows, ...extra]);
    // The arrow itself, and the folder cycle it closes where the reverse arrow is allowed.
    expect(problems.filter((p) => !p.startsWith('folder cycle: '))).toEqual([expect.stringMatching(new RegExp(`^${extra[0]!.from} imports ${extra[0]!.to}`))]);
  });

  it('refuses a folder-level cycle even between layers the table would let through', () => {
    const problems = layerProblems([
      { from: 'src/verify/check.ts', to: 'src/engines/walker.ts' },
      { from: 'src/engines/walker.ts', to: 'src/verify/walker.ts' },
    ]);
    expect(problems.some((p) => p.startsWith('folder cycle: ') && p.includes('verify') && p.includes('engines'))).toBe(true);
  });

  it('lets fuzzing\'s generator adapter drive the generator', () => {
    expect(layerProblems([{ from: 'src/fuzz/generators.ts', to: 'src/gen/generate.ts' }])).toEqual([]);
  });
});
