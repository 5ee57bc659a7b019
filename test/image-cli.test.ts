import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseElfFile, sectionContents, sectionNamed } from '../src/elf/reader.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { readZephyrFixture } from './support/zephyr-fixtures.js';
import { expectBadInput, scratchDir, writeScratch, x86pt } from './support/cli.js';
import { withSectionField } from './support/elf-patch.js';
import { fromDescription, tablesOffset, withSymbolValue, zephyrBuild, type ZephyrBuild } from './support/zephyr-image.js';
import { kernelSymbols, symbolKernelElf } from '../src/elf/kernel.js';
import { writeElf } from '../src/elf/writer.js';

const dir = scratchDir('x86pt-image-cli-');
const hex = (n: bigint) => `0x${n.toString(16)}`;

/** A build folder's zephyr/ with the final image and the prebuilt beside it, as a Zephyr build leaves them. */
function writeBuild(name: string, build: ZephyrBuild): { image: string; prebuilt: string; folder: string } {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  return { image: writeScratch(folder, 'zephyr.elf', build.image), prebuilt: writeScratch(folder, 'zephyr_prebuilt.elf', build.prebuilt), folder };
}

/** A copy of the image with one bit of the tables' first present entry flipped. */
function flipped(build: ZephyrBuild, bit: number): Uint8Array {
  const copy = build.image.slice();
  let at = tablesOffset(copy, build);
  while (copy[at] === 0) at++;
  copy[at] ^= 1 << bit;
  return copy;
}

const SEED = {
  '32bit': fromDescription(GOLDEN_LAYOUTS['32bit-dual-perms']!),
  pae: fromDescription(GOLDEN_LAYOUTS['pae-dual-across-1gib']!),
  ia32e: fromDescription(GOLDEN_LAYOUTS['ia32e-high-half']!),
};

describe('x86pt verify, dump and diff on a final image (seed era, every mode)', () => {
  for (const [mode, kernel] of Object.entries(SEED)) {
    const build = zephyrBuild(kernel);
    const files = writeBuild(`seed-${mode}`, build);

    it(`${mode}: verify zephyr.elf passes, with the prebuilt found beside it`, async () => {
      const run = await x86pt(['verify', files.image]);
      expect(run.stderr).toBe('');
      expect(run.exitCode).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^OK: .*zephyr\\.elf:pagetables does what .*zephyr\\.elf asks`));
      expect(run.stdout).toContain(`seed era, ${mode} tables in section pagetables at ${hex(build.tablesVirt)} (physical ${hex(build.tablesPhys)})`);
      expect(run.stdout).toContain('ok: z_x86_kernel_ptables points at the top-level table');
      expect(run.stdout).toContain('ok: the tables fill the pagetables section exactly');
      expect(run.stdout).toContain('ok: the prebuilt ELF\'s placeholder has the tables\' size and address');
      expect(run.stdout).toContain(`prebuilt: ${files.prebuilt} (found beside the image)`);
    });

    it(`${mode}: a flipped bit in an entry of the section fails verify (exit 1)`, async () => {
      const bad = writeScratch(files.folder, 'flipped.elf', flipped(build, 1));
      const run = await x86pt(['verify', bad]);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toMatch(/^FAIL: .*flipped\.elf:pagetables does not do what .*flipped\.elf asks/);
    });

    it(`${mode}: a wrong z_x86_kernel_ptables fails verify, naming the symbol and both values`, async () => {
      const bad = writeScratch(files.folder, 'cr3.elf', withSymbolValue(build.image, 'z_x86_kernel_ptables', build.tablesVirt));
      const run = await x86pt(['verify', bad, '--prebuilt', files.prebuilt]);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toMatch(/^OK: /); // the tables themselves are right
      expect(run.stdout).toContain(`FAIL: z_x86_kernel_ptables points at the top-level table`);
      expect(run.stdout).toContain(`z_x86_kernel_ptables is ${hex(build.tablesVirt)}, but the top-level table is at ${hex(build.topLevel)}`);
    });

    it(`${mode}: a section truncated by a table fails verify, naming what no longer fits`, async () => {
      const size = BigInt(0x1a0 + build.tables.length - 4096);
      const bad = writeScratch(files.folder, 'short.elf', withSectionField(build.image, 4, 'sh_size', size));
      const run = await x86pt(['verify', bad, '--prebuilt', files.prebuilt]);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toContain(`_binary_pagetables_bin_end is ${hex(build.tablesVirt + BigInt(build.tables.length))}, but the pagetables section's end is`);
      expect(run.stdout).toContain(`${build.placeholder} in ${files.prebuilt} is ${build.tables.length} bytes, but the tables in ${bad}:pagetables are ${build.tables.length - 4096} bytes`);
    });

    it(`${mode}: a section cut inside a table is exit 1 with the image checks, not a walk of half a table`, async () => {
      const bad = writeScratch(files.folder, 'cut.elf', withSectionField(build.image, 4, 'sh_size', BigInt(0x1a0 + build.tables.length - 8)));
      const run = await x86pt(['verify', bad]);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toMatch(/FAIL: the tables fill the pagetables section exactly\n {4}the pagetables section from z_x86_pagetables_start .*: \d+ bytes is not a whole number of/);
    });

    it(`${mode}: a placeholder moved in the prebuilt fails verify, naming it and both addresses`, async () => {
      const moved = writeScratch(files.folder, 'moved_prebuilt.elf', withSymbolValue(build.prebuilt, build.placeholder, build.tablesVirt + 0x1000n));
      const run = await x86pt(['verify', files.image, '--prebuilt', moved]);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toContain(`${build.placeholder} in ${moved} is at ${hex(build.tablesVirt + 0x1000n)}, but z_x86_pagetables_start in ${files.image} is ${hex(build.tablesVirt)}`);
    });

    it(`${mode}: dump zephyr.elf prints what dump of the same tables with -k prints`, async () => {
      const bin = writeScratch(files.folder, 'tables.bin', build.tables);
      const fromImage = await x86pt(['dump', files.image, '--format', 'json']);
      const fromFile = await x86pt(['dump', bin, '-k', files.prebuilt, '--format', 'json']);
      expect(fromImage.exitCode).toBe(0);
      expect(JSON.parse(fromImage.stdout)).toEqual(JSON.parse(fromFile.stdout));
      expect(JSON.parse(fromImage.stdout).ranges.length).toBeGreaterThan(0);
    });

    it(`${mode}: diff of two images: the same is exit 0, a flipped bit exit 1`, async () => {
      const other = writeScratch(files.folder, 'flipped-diff.elf', flipped(build, 1));
      expect((await x86pt(['diff', files.image, files.image])).exitCode).toBe(0);
      const run = await x86pt(['diff', files.image, other]);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toMatch(/^~ /m);
    });
  }

  const build = zephyrBuild(SEED.pae);
  const files = writeBuild('seed-pae-formats', build);

  it('--json carries the image checks and --junit one test case per check', async () => {
    const junit = join(files.folder, 'report.xml');
    const run = await x86pt(['verify', files.image, '--json', '--junit', junit]);
    expect(run.exitCode).toBe(0);
    const json = JSON.parse(run.stdout);
    expect(json.ok).toBe(true);
    expect(json.image.era).toBe('seed');
    expect(json.image.tablesPhys).toBe(hex(build.tablesPhys));
    expect(json.image.checks.map((c: { ok: boolean }) => c.ok)).toEqual([true, true, true]);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('tests="6" failures="0"');
    expect(xml).toContain('name="z_x86_kernel_ptables points at the top-level table (what CR3 is loaded with)"');
  });

  it('a failed image check is a JUnit failure and "ok": false', async () => {
    const bad = writeScratch(files.folder, 'cr3-json.elf', withSymbolValue(build.image, 'z_x86_kernel_ptables', build.topLevel + 32n));
    const junit = join(files.folder, 'bad.xml');
    const run = await x86pt(['verify', bad, '--prebuilt', files.prebuilt, '--json', '--junit', junit]);
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout).ok).toBe(false);
    const xml = readFileSync(junit, 'utf8');
    // Both the CR3 check and the comparison with the first pass catch it.
    expect(xml).toContain('failures="2"');
    expect(xml).toContain(`<failure message="z_x86_kernel_ptables is ${hex(build.topLevel + 32n)}, but the top-level table is at ${hex(build.topLevel)}`);
    expect(xml).toContain(`<failure message="z_x86_kernel_ptables is ${hex(build.topLevel)} in ${files.prebuilt} but ${hex(build.topLevel + 32n)} in ${bad}"`);
  });

  it('--engine unicorn verifies an image as it verifies a file', async () => {
    const run = await x86pt(['verify', files.image, '--engine', 'unicorn']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/engine unicorn /);
  });

  it('refuses -k with an image, and a table file without -k (exit 2)', async () => {
    expectBadInput(await x86pt(['verify', files.image, '-k', files.prebuilt]), /zephyr\.elf is an ELF: a final image carries its own symbols and tables; -k is for a table file/);
    const bin = writeScratch(files.folder, 't.bin', build.tables);
    expectBadInput(await x86pt(['verify', bin]), /t\.bin: a table file needs -k KERNEL\.elf/);
    expectBadInput(await x86pt(['dump', files.image, '--mode', 'pae', '--base', '0x1000']), /is an ELF: a final image places its own tables/);
  });

  it('a table file with -k keeps working as before', async () => {
    const bin = writeScratch(files.folder, 'keep.bin', build.tables);
    const run = await x86pt(['verify', '-k', files.prebuilt, bin]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).not.toContain('image ');
  });
});

describe('x86pt gen --into: new tables into a copy of the final image', () => {
  for (const [mode, kernel] of Object.entries(SEED)) {
    it(`${mode}: writes only the tables' bytes, and the result verifies`, async () => {
      const build = zephyrBuild(kernel);
      const files = writeBuild(`into-${mode}`, build);
      // Start from the script's bytes (--compat), as a Zephyr build leaves them.
      const compat = join(files.folder, 'compat.elf');
      expect((await x86pt(['gen', '--compat', '--into', files.image, '-o', compat])).exitCode).toBe(0);
      const out = join(files.folder, 'new.elf');
      const run = await x86pt(['gen', '--into', compat, '-o', out]);
      expect(run.stderr).toBe('');
      expect(run.exitCode).toBe(0);
      const before = new Uint8Array(readFileSync(compat));
      const after = new Uint8Array(readFileSync(out));
      expect(after.length).toBe(before.length);
      const start = tablesOffset(after, build);
      for (let i = 0; i < after.length; i++) if (i < start || i >= start + build.tables.length) expect(after[i]).toBe(before[i]);
      const file = parseElfFile(after, out);
      expect(Buffer.from(sectionContents(file, sectionNamed(file, 'pagetables')).subarray(0x1a0)).equals(Buffer.from(build.tables))).toBe(true);
      // The PAE deviation (PDPTEs without R/W, U/S) is the only change from the script's bytes.
      expect(Buffer.from(after).equals(Buffer.from(before))).toBe(mode !== 'pae');
      const verified = await x86pt(['verify', out, '--prebuilt', files.prebuilt]);
      expect(verified.exitCode).toBe(0);
    });
  }

  const build = zephyrBuild(SEED['32bit']);
  const files = writeBuild('into-refusals', build);

  it('refuses tables of another size (a kernel with more RAM), writing nothing', async () => {
    const bigger = { ...SEED['32bit'], symbols: { ...SEED['32bit'].symbols, CONFIG_SRAM_SIZE: SEED['32bit'].symbols.CONFIG_SRAM_SIZE! * 4n } };
    const k = writeScratch(files.folder, 'bigger.elf', symbolKernelElf(bigger));
    const out = join(files.folder, 'never.elf');
    const run = await x86pt(['gen', '--into', files.image, '-k', k, '-o', out]);
    expectBadInput(run, /bigger\.elf: the new tables are \d+ bytes, but .*zephyr\.elf:pagetables \(z_x86_pagetables_start 0x[0-9a-f]+\) holds \d+; swapping them would move what the linker placed/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses tables made for another physical address, writing nothing', async () => {
    const moved = { ...SEED['32bit'], symbols: { ...SEED['32bit'].symbols, z_x86_pagetables_start: SEED['32bit'].symbols.z_x86_pagetables_start! + 0x1000n } };
    const k = writeScratch(files.folder, 'moved.elf', symbolKernelElf(moved));
    const out = join(files.folder, 'never2.elf');
    expectBadInput(await x86pt(['gen', '--into', files.image, '-k', k, '-o', out]), /moved\.elf: the new tables are made for physical 0x[0-9a-f]+, but .* sits at physical 0x[0-9a-f]+/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses to write over the image it reads', async () => {
    expectBadInput(await x86pt(['gen', '--into', files.image, '-o', files.image]), /is the input .*zephyr\.elf; refusing to overwrite it/);
  });

  it('gen without --into still needs -k', async () => {
    expectBadInput(await x86pt(['gen', '-o', join(files.folder, 'x.bin')]), /-k, --kernel/);
  });

  it('swaps a v2.6 image\'s tables with its --map arguments (era placement by the offset)', async () => {
    const fixture = readZephyrFixture('2021-v2.6.0-qemu_x86_64-hello_world-extramap');
    const maps = fixture.args.filter((_, i, all) => all[i - 1] === '--map');
    const v26 = zephyrBuild(fixture.kernel, { maps });
    const f = writeBuild('into-v26', v26);
    const out = join(f.folder, 'new.elf');
    const run = await x86pt(['gen', '--into', f.image, '-o', out, ...maps.flatMap((m) => ['--map', m])]);
    expect(run.exitCode).toBe(0);
    const file = parseElfFile(new Uint8Array(readFileSync(out)), out);
    expect(Buffer.from(sectionContents(file, sectionNamed(file, 'pagetables')).subarray(0x1a0)).equals(Buffer.from(v26.tables))).toBe(true);
  });

  it('an ELF without the section is bad input naming the file', async () => {
    const plain = writeScratch(files.folder, 'plain.elf', writeElf({ elfClass: 32, symbols: kernelSymbols(GOLDEN_LAYOUTS['32bit-identity']!) }));
    expectBadInput(await x86pt(['gen', '--into', plain, '-o', join(files.folder, 'p.elf')]), /plain\.elf: no section named pagetables/);
  });
});
