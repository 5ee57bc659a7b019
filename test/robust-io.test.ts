/**
 * The one reader and the one writer every file goes through: a write is whole
 * or nothing (short writes continued, a full disk refused with the old file
 * kept and no temporary left), no single write call is too big, an output is
 * never a non-regular file or an input, inputs are regular and bounded,
 * directories are made one level at a time. Disk failures are injected
 * through the writer's write function.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { ensureDirectory, forgetInputs, readInputFile, WRITE_CHUNK_BYTES, writeFileAtomic, type WriteFunction } from '../src/core/io.js';
import { scratchDir } from './support/cli.js';
import { freshDirsUnder } from './support/fresh-dirs.js';

const work = scratchDir('x86pt-robust-io-');
const freshDir = freshDirsUnder(work);
/** A fresh directory holding `out.bin` with old contents. */
function withOldOutput(): { dir: string; out: string } {
  const dir = freshDir();
  const out = join(dir, 'out.bin');
  writeFileSync(out, 'old contents');
  return { dir, out };
}

const ENOSPC = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });

/** A disk that takes `capacity` bytes and then fails as a full one does. */
function diskOf(capacity: number, failure: () => Error = ENOSPC): { write: WriteFunction; written: () => number } {
  let written = 0;
  return {
    write: (_fd, _buffer, _offset, length) => {
      if (written >= capacity) throw failure();
      const n = Math.min(length, capacity - written);
      written += n;
      return n;
    },
    written: () => written,
  };
}

afterEach(() => forgetInputs());

describe('writeFileAtomic', () => {
  const data = new Uint8Array(2_117_632).map((_, i) => (i * 7) & 0xff);

  it('continues short writes until every byte is written', async () => {
    const { out } = withOldOutput();
    const calls: number[] = [];
    // Real writes, each cut to at most 1000 bytes: the file must still be whole.
    const { writeSync } = await import('node:fs');
    const shortWrites: WriteFunction = (fd, buffer, offset, length) => {
      calls.push(length);
      return writeSync(fd, buffer, offset, Math.min(length, 1000));
    };
    await writeFileAtomic(out, data, { write: shortWrites });
    expect(Buffer.compare(readFileSync(out), data)).toBe(0);
    expect(calls.length).toBeGreaterThanOrEqual(Math.ceil(data.length / 1000));
  });

  it.each([
    ['ENOSPC', /out\.bin: cannot write \(ENOSPC\): no space left on the device$/],
    ['EDQUOT', /out\.bin: cannot write \(EDQUOT\): disk quota exceeded$/],
    ['EIO', /out\.bin: cannot write \(EIO\): input\/output error$/],
  ])('a disk failing with %s after 61440 bytes: one-line refusal, the old output kept, no temporary file', async (code, message) => {
    const { dir, out } = withOldOutput();
    const disk = diskOf(61_440, () => Object.assign(new Error(`${code}: failed`), { code }));
    const error = await writeFileAtomic(out, data, { write: disk.write }).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toMatch(message);
    expect(disk.written()).toBe(61_440);
    expect(readFileSync(out, 'utf8')).toBe('old contents');
    expect(readdirSync(dir)).toEqual(['out.bin']);
  });

  it('a write that reports 0 bytes is a failure, not an endless loop', async () => {
    const { dir, out } = withOldOutput();
    await expect(writeFileAtomic(out, data, { write: () => 0 })).rejects.toThrow(/cannot write/);
    expect(readFileSync(out, 'utf8')).toBe('old contents');
    expect(readdirSync(dir)).toEqual(['out.bin']);
  });

  it('writes more than 2 GiB in chunks no write call refuses', async () => {
    const { out } = withOldOutput();
    // Never touched by the injected writer, so the pages are never made resident.
    const huge = new Uint8Array(2 ** 31 + 3 * 4096);
    let total = 0;
    let largest = 0;
    await writeFileAtomic(out, huge, {
      write: (_fd, _buffer, offset, length) => {
        expect(offset).toBe(total);
        total += length;
        largest = Math.max(largest, length);
        return length;
      },
    });
    expect(total).toBe(huge.length);
    expect(largest).toBeLessThanOrEqual(WRITE_CHUNK_BYTES);
    expect(largest).toBeLessThan(2 ** 31);
  });

  it('keeps an existing output\'s permission bits', async () => {
    const { out } = withOldOutput();
    chmodSync(out, 0o600);
    await writeFileAtomic(out, data);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    chmodSync(out, 0o751);
    await writeFileAtomic(out, 'text');
    expect(statSync(out).mode & 0o777).toBe(0o751);
  });

  // A second name for the output, and which of the two names the write goes to.
  const secondNames = [
    {
      title: 'replaces a hard-linked output: the other name keeps the old bytes (a rebuilt file stops sharing them)',
      secondName: 'other.bin', makeName: linkSync, writeTo: 'output', text: 'new',
      check: (out: string, other: string): void => {
        expect(readFileSync(out, 'utf8')).toBe('new');
        expect(readFileSync(other, 'utf8')).toBe('old contents');
      },
    },
    {
      title: 'writes through a symbolic link to the file it names',
      secondName: 'link.bin', makeName: symlinkSync, writeTo: 'second name', text: 'through the link',
      check: (out: string, link: string): void => {
        expect(readFileSync(out, 'utf8')).toBe('through the link');
        expect(statSync(link).isFile()).toBe(true);
      },
    },
  ] as const;
  for (const { title, secondName, makeName, writeTo, text, check } of secondNames) {
    it(title, async () => {
      const { dir, out } = withOldOutput();
      const second = join(dir, secondName);
      makeName(out, second);
      await writeFileAtomic(writeTo === 'output' ? out : second, text);
      check(out, second);
    });
  }

  it('refuses an output that is a FIFO or a directory, and leaves it as it was', async () => {
    const { dir } = withOldOutput();
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(writeFileAtomic(fifo, 'x')).rejects.toThrow(/fifo: exists and is a FIFO, not a regular file; refusing to replace it$/);
    expect(statSync(fifo).isFIFO()).toBe(true);
    const link = join(dir, 'to-fifo');
    symlinkSync(fifo, link);
    await expect(writeFileAtomic(link, 'x')).rejects.toThrow(/to-fifo: exists and is a FIFO/);
    await expect(writeFileAtomic(dir, 'x')).rejects.toThrow(/exists and is a directory/);
    expect(readdirSync(dir).sort()).toEqual(['fifo', 'out.bin', 'to-fifo']);
  });

  it('refuses an output that is an input read, by device and inode (also through links)', async () => {
    const { dir, out } = withOldOutput();
    readInputFile(out, { maxBytes: 1 << 20, what: 'a test file' });
    const hard = join(dir, 'hard.bin');
    const soft = join(dir, 'soft.bin');
    linkSync(out, hard);
    symlinkSync(out, soft);
    for (const target of [out, hard, soft]) {
      await expect(writeFileAtomic(target, 'x')).rejects.toThrow(/is the input .*out\.bin; refusing to overwrite it$/);
    }
    expect(readFileSync(out, 'utf8')).toBe('old contents');
  });
});

describe('readInputFile', () => {
  const dir = join(work, 'inputs');
  mkdirSync(dir, { recursive: true });

  it('refuses a FIFO at once instead of waiting for a writer', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(() => readInputFile(fifo, { maxBytes: 100, what: 'an ELF file' })).toThrow(/fifo: not a regular file$/);
  });

  it('refuses a device such as /dev/zero before reading it', () => {
    expect(() => readInputFile('/dev/zero', { maxBytes: 100, what: 'tables' })).toThrow(/\/dev\/zero: not a regular file$/);
  });

  it('refuses a file above the limit without reading it, and reads one at the limit', () => {
    const file = join(dir, 'sparse.bin');
    writeFileSync(file, '');
    truncateSync(file, 4097);
    expect(() => readInputFile(file, { maxBytes: 4096, what: 'tables' })).toThrow(/sparse\.bin: 4097 bytes is more than the 4 KiB x86pt reads as tables$/);
    truncateSync(file, 4096);
    expect(readInputFile(file, { maxBytes: 4096, what: 'tables' }).length).toBe(4096);
  });

  it('names a directory and a missing file in one line', () => {
    expect(() => readInputFile(dir, { maxBytes: 100, what: 'an ELF file' })).toThrow(/inputs: is a directory, not an ELF file$/);
    expect(() => readInputFile(join(dir, 'gone'), { maxBytes: 100, what: 'an ELF file' })).toThrow(/gone: no such file$/);
  });
});

describe('ensureDirectory', () => {
  it('creates missing levels one at a time', () => {
    const deep = join(work, 'a', 'b', 'c');
    ensureDirectory(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    ensureDirectory(deep);
  });

  it('refuses a path through a regular file, and one under /proc, with one line and no loop', () => {
    const file = join(work, 'plain');
    writeFileSync(file, '');
    expect(() => ensureDirectory(file)).toThrow(/plain exists and is a regular file, not a directory$/);
    expect(() => ensureDirectory(join(file, 'sub'))).toThrow(/plain exists and is a regular file, not a directory$/);
    expect(() => ensureDirectory('/proc/x86pt-nope/deeper')).toThrow(/cannot create the directory \/proc\/x86pt-nope \(ENOENT\)$/);
  });
});
