/**
 * Every file x86pt reads or writes goes through here.
 *
 * Inputs are opened without blocking (a FIFO cannot hold the process), must
 * be regular files, and are bounded in size before a byte is read. Outputs
 * are written whole or not at all: into a temporary file beside the target,
 * in chunks, every short write continued, then renamed over the target; any
 * failure leaves the old output as it was and no temporary file behind (also
 * on SIGINT/SIGTERM/SIGHUP, through the cleanup registry). An output that is
 * not a regular file, or is one of the inputs read, is refused.
 */
import {
  closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, realpathSync, renameSync,
  rmSync, statSync, writeSync, type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError } from './errors.js';
import { registerTemp } from './cleanup.js';
import { formatSize } from './text.js';

/** writeSync's shape: writes up to `length` bytes of `buffer` from `offset`, returns how many it wrote. */
export type WriteFunction = (fd: number, buffer: Uint8Array, offset: number, length: number) => number;

/** One write call at most; a single writeSync cannot take 2 GiB or more. */
export const WRITE_CHUNK_BYTES = 8 << 20;

export interface WriteOptions {
  /** Replaces writeSync (tests inject short writes and full disks with it). */
  readonly write?: WriteFunction;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Files read so far, by device and inode: an output may not be any of them. */
const inputsRead = new Map<string, string>();
const identity = (stats: Stats): string => `${stats.dev}:${stats.ino}`;

/** The kind of a file that is not a regular one, for messages. */
function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return stats.isFile() ? 'a regular file' : 'not a regular file';
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** A file system error as a few words, with its code. */
export function describeFsError(err: unknown): string {
  const code = codeOf(err);
  switch (code) {
    case 'ENOENT': return 'no such file';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    case 'ELOOP': return 'too many levels of symbolic links';
    default: return code ?? (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
  }
}

const WRITE_TROUBLE: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for the file system',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
};

/** 'cannot write (ENOSPC): no space left on the device'. */
function cannotWrite(err: unknown): string {
  const code = codeOf(err);
  if (code === undefined) return `cannot write (${describeFsError(err)})`;
  const words = WRITE_TROUBLE[code];
  return `cannot write (${code})${words ? `: ${words}` : ''}`;
}

export interface ReadOptions {
  /** Larger files are refused before any read. */
  readonly maxBytes: number;
  /** What the file should be, in messages: 'an ELF file', 'tables'. */
  readonly what: string;
  /** The message when the file cannot be opened (default: describeFsError). */
  readonly openError?: (err: unknown) => string;
  /** Whether outputs must not be this file (default true); false for files x86pt itself made, e.g. a generator's output. */
  readonly record?: boolean;
}

/**
 * The bytes of a regular file of at most `maxBytes`. Opened with O_NONBLOCK,
 * so a FIFO is refused (by fstat) instead of waiting for a writer; a device
 * such as /dev/zero is refused before it is read.
 */
export function readInputFile(path: string, options: ReadOptions): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if (codeOf(err) === 'EISDIR') throw new InputError(`${path}: is a directory, not ${options.what}`);
    throw new InputError(`${path}: ${(options.openError ?? describeFsError)(err)}`);
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw new InputError(`${path}: is a directory, not ${options.what}`);
    if (!stats.isFile()) throw new InputError(`${path}: not a regular file`);
    if (stats.size > options.maxBytes) {
      throw new InputError(`${path}: ${stats.size} bytes is more than the ${formatSize(BigInt(options.maxBytes))} x86pt reads as ${options.what}`);
    }
    // Exactly the size fstat gave: a file growing meanwhile cannot make us read more.
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(stats.size);
    } catch {
      throw new InputError(`${path}: ${stats.size} bytes of ${options.what} do not fit in the memory available`);
    }
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, Math.min(WRITE_CHUNK_BYTES, bytes.length - got), null);
      if (n === 0) break;
      got += n;
    }
    if (options.record ?? true) inputsRead.set(identity(stats), path);
    return got === bytes.length ? bytes : bytes.subarray(0, got);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${path}: cannot read ${options.what} (${describeFsError(err)})`);
  } finally {
    closeSync(fd);
  }
}

/** Where an output really goes (a symbolic link is followed) and what is there now. */
function outputTarget(path: string): { target: string; existing: Stats | undefined } {
  let link: Stats;
  try {
    link = lstatSync(path);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return { target: path, existing: undefined };
    throw new InputError(`${path}: ${cannotWrite(err)}`);
  }
  let target = path;
  let existing = link;
  if (link.isSymbolicLink()) {
    try {
      target = realpathSync(path);
      existing = statSync(target);
    } catch (err) {
      throw new InputError(`${path}: is a symbolic link x86pt cannot follow (${describeFsError(err)})`);
    }
  }
  if (!existing.isFile()) throw new InputError(`${path}: exists and is ${kindOf(existing)}, not a regular file; refusing to replace it`);
  const input = inputsRead.get(identity(existing));
  if (input !== undefined) throw new InputError(`${path}: is the input ${input}; refusing to overwrite it`);
  return { target, existing };
}

/**
 * Writes a file all at once or not at all. The new file keeps an existing
 * output's permission bits (and, for root, its owner).
 *
 * An output with other hard links is replaced, not written in place: the
 * other names keep the old bytes. Writing through the link would be the only
 * way to keep it, and it is not atomic (a failure midway leaves a torn table
 * block under every name); hard-linked build trees (cp -al, ccache) also
 * expect a rebuilt file to stop sharing its bytes with the copies.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: WriteOptions = {}): Promise<void> {
  // A signal that arrived while the data was being computed is handled before anything is created.
  await yieldToEventLoop();
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const write = options.write ?? writeSync;
  const { target, existing } = outputTarget(path);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  let unregister: (() => void) | undefined;
  try {
    fd = openSync(temp, 'wx', existing ? existing.mode & 0o7777 : 0o644);
    unregister = registerTemp(temp);
    if (existing) {
      fchmodSync(fd, existing.mode & 0o7777); // open's mode went through the umask
      if (process.getuid?.() === 0 && (existing.uid !== 0 || existing.gid !== 0)) {
        try {
          fchownSync(fd, existing.uid, existing.gid);
        } catch {
          // Some file systems have no owners to give; the bytes still count.
        }
      }
    }
    for (let offset = 0; offset < bytes.length;) {
      const end = Math.min(bytes.length, offset + WRITE_CHUNK_BYTES);
      while (offset < end) {
        const n = write(fd, bytes, offset, end - offset);
        // writeSync reports a full disk by throwing; a write of nothing would loop forever.
        if (!(n > 0)) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
        offset += n;
      }
      if (offset < bytes.length) await yieldToEventLoop();
    }
    closeSync(fd);
    fd = undefined;
    renameSync(temp, target);
    unregister();
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    unregister?.();
    if (err instanceof InputError) throw err;
    throw new InputError(`${path}: ${cannotWrite(err)}`);
  }
}

/**
 * Creates a directory and its missing parents one level at a time (Node's
 * recursive mkdir loops forever under /proc); an existing non-directory
 * anywhere on the way is refused.
 */
export function ensureDirectory(path: string): void {
  const missing: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    let stats: Stats | undefined;
    try {
      stats = statSync(dir);
    } catch (err) {
      // ENOTDIR: a file further up, found as the walk goes on.
      const code = codeOf(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new InputError(`${path}: cannot create the directory (${describeFsError(err)})`);
    }
    if (stats) {
      if (!stats.isDirectory()) throw new InputError(`${path}: ${dir} exists and is ${kindOf(stats)}, not a directory`);
      break;
    }
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (err) {
      if (codeOf(err) === 'EEXIST' && statSync(dir, { throwIfNoEntry: false })?.isDirectory()) continue;
      throw new InputError(`${path}: cannot create the directory ${dir} (${codeOf(err) ?? describeFsError(err)})`);
    }
  }
}

/** Forgets the inputs read so far (for tests that reuse a process). */
export const forgetInputs = (): void => inputsRead.clear();
