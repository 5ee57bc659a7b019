/**
 * Assembles the Bochs engine's own GNU as sources (the ROM loader, the
 * check guests) into flat binaries linked at a given base, cached under
 * .local/bochs-build (or the system temp dir) by a hash of the source and
 * the base, so an unchanged source costs one file read.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../core/package-root.js';

/** A source file in src/engines/bochs, by its name there. */
export type BochsSource = 'loader.S' | 'paging-checks.S' | 'cpuid-report.S' | 'blob-sum.S';

const building = new Map<string, Promise<Uint8Array>>();

/** The source's bytes linked at `base` (the first byte of .text lands there). */
export function assembleFlat(source: BochsSource, base: number): Promise<Uint8Array> {
  const key = `${source}@${base.toString(16)}`;
  let job = building.get(key);
  if (!job) {
    job = build(source, base).catch((err: unknown) => {
      building.delete(key);
      throw err;
    });
    building.set(key, job);
  }
  return job;
}

const INCLUDE = 'console.inc';

/** The path of a source in src/engines/bochs (sources ship in the package, next to dist/). */
export function sourcePath(source: BochsSource | typeof INCLUDE): string {
  return join(packageRoot(), 'src', 'engines', 'bochs', source);
}

function cacheRoots(): string[] {
  return [join(packageRoot(), '.local', 'bochs-build'), join(tmpdir(), 'x86pt-bochs-build')];
}

async function build(source: BochsSource, base: number): Promise<Uint8Array> {
  const path = sourcePath(source);
  // The shared include is part of every source's identity.
  const hash = createHash('sha256').update(readFileSync(path)).update(readFileSync(sourcePath(INCLUDE))).update(`@${base}`).digest('hex').slice(0, 16);
  const name = `${source.replace(/\.S$/, '')}-${hash}.bin`;
  for (const cache of cacheRoots()) {
    const cached = join(cache, name);
    if (existsSync(cached)) return new Uint8Array(readFileSync(cached));
  }
  let lastError: unknown;
  for (const cache of cacheRoots()) {
    try {
      mkdirSync(cache, { recursive: true });
      const work = mkdtempSync(join(cache, 'build-'));
      try {
        const object = join(work, 'out.o');
        const flat = join(work, 'out.bin');
        await execa('as', ['--32', '-I', dirname(path), '-o', object, path]);
        await execa('ld', ['-m', 'elf_i386', '-e', '0', `-Ttext=0x${base.toString(16)}`, '--oformat=binary', '-o', flat, object]);
        const bytes = new Uint8Array(readFileSync(flat));
        // Written whole, then renamed: a concurrent reader never sees half a file.
        writeFileSync(join(work, 'done.bin'), bytes);
        renameSync(join(work, 'done.bin'), join(cache, name));
        return bytes;
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
