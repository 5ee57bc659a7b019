import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateForEra } from '../src/gen/generate.js';
import { symbolKernelMaps } from '../src/elf/kernel.js';
import { genMmuCommand, ninjaWorkdir, shellWords } from '../src/cli/build-dir.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { readZephyrFixture } from './support/zephyr-fixtures.js';
import { expectBadInput, scratchDir, writeScratch, x86pt } from './support/cli.js';
import { fromDescription, zephyrBuild } from './support/zephyr-image.js';
import type { SymbolKernel } from '../src/elf/kernel.js';

const dir = scratchDir('x86pt-build-dir-');

/** build.ninja's gen_mmu.py rule as CMake writes it for arch/x86, from a build made in `workdir`. */
const ninja = (workdir: string, maps: readonly string[]) => `# CMAKE generated file: DO NOT EDIT!
ninja_required_version = 1.5
cmake_ninja_workdir = ${workdir}/

build zephyr/arch/arch/x86/pagetables.bin: CUSTOM_COMMAND zephyr/zephyr_prebuilt.elf
  COMMAND = cd ${workdir}/zephyr/arch/arch/x86 && /usr/bin/python3 /opt/zephyr/arch/x86/gen_mmu.py --kernel ${workdir}/zephyr/zephyr_prebuilt.elf --output pagetables.bin ${maps.map((m) => `--map ${m}`).join(' ')}
  DESC = Generating pagetables.bin
  restat = 1
`;

/**
 * A Zephyr 2.x build folder: build.ninja, zephyr/zephyr.elf, zephyr/zephyr_prebuilt.elf and the
 * script's pagetables.bin (its --compat bytes) where arch/x86 writes it; made where CMake did not run.
 */
function buildFolder(name: string, kernel: SymbolKernel, maps: readonly string[] = [], tables?: Uint8Array): string {
  const root = join(dir, name);
  mkdirSync(join(root, 'zephyr', 'arch', 'arch', 'x86'), { recursive: true });
  const compat = generateForEra(symbolKernelMaps(kernel), { compat: true, maps }).bytes;
  const build = zephyrBuild(kernel, { maps, tables: compat });
  writeScratch(join(root, 'zephyr'), 'zephyr.elf', build.image);
  writeScratch(join(root, 'zephyr'), 'zephyr_prebuilt.elf', build.prebuilt);
  writeScratch(join(root, 'zephyr', 'arch', 'arch', 'x86'), 'pagetables.bin', tables ?? compat);
  writeScratch(root, 'build.ninja', ninja('/home/ci/app/build', maps));
  return root;
}

describe('reading gen_mmu.py\'s command from build.ninja', () => {
  it('takes --kernel, --output, each --map and the cd before it', () => {
    const text = ninja('/w/b', ['0xe0000000,0x3000,WD', '0xe0200000,0x200000,LW']);
    expect(genMmuCommand(text)).toEqual({
      kernel: '/w/b/zephyr/zephyr_prebuilt.elf', output: 'pagetables.bin', maps: ['0xe0000000,0x3000,WD', '0xe0200000,0x200000,LW'], cwd: '/w/b/zephyr/arch/arch/x86',
    });
    expect(ninjaWorkdir(text)).toBe('/w/b/');
  });
  it('joins $-continued lines, undoes ninja\'s $$ escape, reads --opt=value and shell quotes', () => {
    const text = 'build x: CUSTOM_COMMAND y\n  COMMAND = cd "/a b" && python3 gen_mmu.py $\n    --kernel="/a b/k$$.elf" -o \'o.bin\' --map 0x1000,0x1000,W\n';
    expect(genMmuCommand(text)).toEqual({ kernel: '/a b/k$.elf', output: 'o.bin', maps: ['0x1000,0x1000,W'], cwd: '/a b' });
  });
  it('is absent without a gen_mmu.py command; two different ones are ambiguous', () => {
    expect(genMmuCommand('build a: phony\n  COMMAND = python3 gen_idt.py --kernel k\n')).toBeUndefined();
    expect(() => genMmuCommand('  COMMAND = gen_mmu.py -k a -o b\n  COMMAND = gen_mmu.py -k c -o d\n')).toThrow(/runs gen_mmu\.py 2 times/);
  });
  it('splits words as sh does', () => {
    expect(shellWords(`a 'b c' "d \\" e" f\\ g`)).toEqual(['a', 'b c', 'd " e', 'f g']);
  });
  it('keeps a $ from ninja\'s $$ literal, in single quotes or escaped in double quotes (nothing is expanded)', () => {
    const text = '  COMMAND = python3 gen_mmu.py --kernel \'/b/$$ORIGIN/k.elf\' -o "o\\$$1.bin" --map "0x1000,0x1000,W"\n';
    expect(genMmuCommand(text)).toEqual({ kernel: '/b/$ORIGIN/k.elf', output: 'o$1.bin', maps: ['0x1000,0x1000,W'] });
  });
});

describe('x86pt verify --build-dir', () => {
  it('a seed-era build: compat gives the build\'s bytes, the image verifies, the placement checks pass: exit 0', async () => {
    const root = buildFolder('seed', fromDescription(GOLDEN_LAYOUTS['ia32e-high-half']!));
    const junit = join(root, 'x86pt.xml');
    const run = await x86pt(['verify', '--build-dir', root, '--junit', junit]);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`build ${root}: ${root}/zephyr/zephyr.elf, prebuilt ${root}/zephyr/zephyr_prebuilt.elf, tables ${root}/zephyr/arch/arch/x86/pagetables.bin (gen_mmu.py arguments from build.ninja: no --map)`);
    expect(lines[1]).toMatch(/^compat: OK: x86pt gen --compat gives the same \d+ bytes as .*pagetables\.bin$/);
    expect(lines[2]).toMatch(/^OK: .*zephyr\.elf:pagetables does what .*zephyr\.elf asks/);
    expect(run.stdout).toContain('ok: the prebuilt ELF\'s placeholder has the tables\' size and address');
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('tests="7" failures="0"');
    expect(xml).toContain('name="x86pt gen --compat gives the build&apos;s pagetables.bin"');
  });

  it('a pagetables.bin differing in one entry: the offset, the entry and both values; exit 1', async () => {
    const kernel = fromDescription(GOLDEN_LAYOUTS['pae-identity-perms']!);
    const compat = generateForEra(symbolKernelMaps(kernel), { compat: true }).bytes;
    const changed = compat.slice();
    changed[0x1008] ^= 0x02; // entry 1 of table 1, R/W
    const root = buildFolder('differs', kernel, [], changed);
    const run = await x86pt(['verify', '--build-dir', root]);
    expect(run.exitCode).toBe(1);
    const view = new DataView(compat.buffer);
    const ours = view.getBigUint64(0x1008, true);
    expect(run.stdout).toContain(`compat: FAIL: x86pt gen --compat differs from ${root}/zephyr/arch/arch/x86/pagetables.bin first at offset 0x1008: entry 1 of table 1 (byte 0x1008), x86pt 0x${ours.toString(16)}, the build 0x${(ours ^ 2n).toString(16)}`);
  });

  it('a pagetables.bin of another size says so', async () => {
    const kernel = fromDescription(GOLDEN_LAYOUTS['32bit-identity']!);
    const compat = generateForEra(symbolKernelMaps(kernel), { compat: true }).bytes;
    const longer = new Uint8Array(compat.length + 4096);
    longer.set(compat);
    const run = await x86pt(['verify', '--build-dir', buildFolder('longer', kernel, [], longer)]);
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain(`in size (x86pt writes ${compat.length} bytes, the build's file has ${compat.length + 4096}); the first ${compat.length} bytes agree`);
  });

  it('a v2.6 build: the --map arguments come from build.ninja and compat matches', async () => {
    const fixture = readZephyrFixture('2021-v2.6.0-qemu_x86_64-hello_world-extramap');
    const maps = fixture.args.filter((_, i, all) => all[i - 1] === '--map');
    const root = buildFolder('v26', fixture.kernel, maps);
    const run = await x86pt(['verify', '--build-dir', root, '--format', 'json']);
    const json = JSON.parse(run.stdout);
    expect(json.build.maps).toEqual(maps);
    expect(json.build.from).toBe('build.ninja');
    expect(json.compat.same).toBe(true);
    expect(json.verify.image.era).toBe('v2.6');
    expect(json.verify.image.checks.map((c: { ok: boolean }) => c.ok)).toEqual([true, true, true]);
    // --map is the build's; giving it again is refused.
    expectBadInput(await x86pt(['verify', '--build-dir', root, '--map', maps[0]!]), /--map comes from build\.ninja/);
  });

  it('the zephyr/ folder alone, without build.ninja: the usual names', async () => {
    const root = buildFolder('plain', fromDescription(GOLDEN_LAYOUTS['32bit-xip']!));
    const zephyr = join(root, 'zephyr');
    writeScratch(zephyr, 'pagetables.bin', readFileSync(join(zephyr, 'arch', 'arch', 'x86', 'pagetables.bin')));
    const moved = join(dir, 'moved');
    mkdirSync(moved);
    for (const f of ['zephyr.elf', 'zephyr_prebuilt.elf', 'pagetables.bin']) writeScratch(moved, f, readFileSync(join(zephyr, f)));
    const run = await x86pt(['verify', '--build-dir', moved]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('(gen_mmu.py arguments from defaults: no --map)');
  });

  it('bad folders are one line, exit 2', async () => {
    expectBadInput(await x86pt(['verify', '--build-dir', join(dir, 'nope')]), /--build-dir .*nope: not a directory/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    expectBadInput(await x86pt(['verify', '--build-dir', empty]), /no zephyr\.elf in /);
    expectBadInput(await x86pt(['verify', '--build-dir', empty, 'x.bin']), /give no table file, -k or --prebuilt with it/);
  });
});
