/**
 * Builds the guest (src/engines/qemu/probe-stub.S, with the include generated
 * from stub-abi.ts) with GNU as and ld into a cache directory keyed by the
 * hash of both, so a changed source or interface is rebuilt and an unchanged
 * one costs a file read.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, mkdtempSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../core/package-root.js';
import { STUB_ABI, stubAbiInclude } from './stub-abi.js';

/** The guest image: position-independent code; what runs at a case's code page fits one page (the stub checks that itself). */
export interface ProbeStub {
  readonly image: Uint8Array;
  /** Offset of the multiboot entry point. */
  readonly entryOffset: number;
}

/** Where the image keeps what the host fills in before a boot. */
const MULTIBOOT_MAGIC = 0x1badb002;
const HEADER_OFFSET = STUB_ABI.IMAGE_MB_HEADER;
const STAGING_PTR_OFFSET = STUB_ABI.IMAGE_STAGING_PTR;
const ENTRY_OFFSET_OFFSET = STUB_ABI.IMAGE_ENTRY_OFFSET;
/** Stack the stub's home code uses, just above the image (the multiboot bss). */
export const HOME_STACK_BYTES = STUB_ABI.HOME_STACK_BYTES;
const PAGE_BYTES = 4096;
/** The image stays within the 8 KiB a multiboot loader searches for the header (and one copy of the home code). */
const MULTIBOOT_SEARCH_BYTES = 8192;

const STUB_SOURCE = 'probe-stub.S';
/** The name probe-stub.S includes the generated interface by. */
const ABI_INCLUDE = 'probe-stub-abi.inc';

/** The stub's source file. */
export const stubSourcePath = (): string => join(packageRoot(), 'src', 'engines', 'qemu', STUB_SOURCE);

let built: Promise<ProbeStub> | undefined;

/** The guest image, assembled and linked on first use (and whenever probe-stub.S changes). */
export function buildProbeStub(): Promise<ProbeStub> {
  built ??= build().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

function cacheRoots(root: string): string[] {
  return [join(root, '.local', 'qemu-build'), join(tmpdir(), 'x86pt-qemu-build')];
}

async function build(): Promise<ProbeStub> {
  const root = packageRoot();
  const sourcePath = stubSourcePath();
  const source = readFileSync(sourcePath);
  const key = createHash('sha256').update(source).update('\0').update(stubAbiInclude()).digest('hex').slice(0, 16);
  for (const cache of cacheRoots(root)) {
    const cached = join(cache, `probe-stub-${key}.bin`);
    if (existsSync(cached)) return parseImage(new Uint8Array(readFileSync(cached)), cached);
  }
  let lastError: unknown;
  for (const cache of cacheRoots(root)) {
    try {
      mkdirSync(cache, { recursive: true });
      const work = mkdtempSync(join(cache, 'build-'));
      try {
        const image = await assemble(sourcePath, work);
        const tmp = join(work, 'image.bin');
        writeFileSync(tmp, image);
        const target = join(cache, `probe-stub-${key}.bin`);
        renameSync(tmp, target);
        return parseImage(image, target);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** Assembles the stub into `work`/probe-stub.o, with the generated interface beside it; returns the object's path. */
export async function assembleStubObject(sourcePath: string, work: string): Promise<string> {
  writeFileSync(join(work, ABI_INCLUDE), stubAbiInclude());
  const object = join(work, 'probe-stub.o');
  await execa('as', ['--32', '-I', work, '-o', object, sourcePath]);
  return object;
}

/** Assembles, then links at two bases: identical bytes prove the code is position independent. */
async function assemble(sourcePath: string, work: string): Promise<Uint8Array> {
  const object = await assembleStubObject(sourcePath, work);
  const link = async (base: number): Promise<Uint8Array> => {
    const out = join(work, `image-${base.toString(16)}.bin`);
    await execa('ld', ['-m', 'elf_i386', '-e', 'image_start', `-Ttext=0x${base.toString(16)}`, '--oformat=binary', '-o', out, object]);
    return new Uint8Array(readFileSync(out));
  };
  const [low, high] = [await link(0), await link(0x100000)];
  if (Buffer.compare(Buffer.from(low), Buffer.from(high)) !== 0) {
    throw new Error(`${sourcePath} is not position independent: linking at two bases gives different bytes`);
  }
  return low;
}

function parseImage(image: Uint8Array, origin: string): ProbeStub {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.byteLength > MULTIBOOT_SEARCH_BYTES) throw new Error(`${origin}: the stub is ${image.byteLength} bytes; its multiboot loader reads at most ${MULTIBOOT_SEARCH_BYTES}`);
  if (view.getUint32(HEADER_OFFSET, true) !== MULTIBOOT_MAGIC) throw new Error(`${origin}: no multiboot header at offset ${HEADER_OFFSET}`);
  const runnerBytes = view.getUint32(STUB_ABI.IMAGE_RUNNER_BYTES, true);
  if (runnerBytes > PAGE_BYTES) throw new Error(`${origin}: ${runnerBytes} bytes of the stub run at a case's code page; they must fit one page`);
  return { image, entryOffset: view.getUint32(ENTRY_OFFSET_OFFSET, true) };
}

/** The image as QEMU should load it: multiboot address fields for `loadAddr`, and the staging area's address. */
export function imageLoadedAt(stub: ProbeStub, loadAddr: number, stagingAddr: number): Uint8Array {
  const image = stub.image.slice();
  const view = new DataView(image.buffer);
  const end = loadAddr + image.byteLength;
  view.setUint32(HEADER_OFFSET + 12, loadAddr + HEADER_OFFSET, true); // header_addr
  view.setUint32(HEADER_OFFSET + 16, loadAddr, true); // load_addr
  view.setUint32(HEADER_OFFSET + 20, end, true); // load_end_addr
  view.setUint32(HEADER_OFFSET + 24, end + HOME_STACK_BYTES, true); // bss_end_addr: the home stack
  view.setUint32(HEADER_OFFSET + 28, loadAddr + stub.entryOffset, true); // entry_addr
  view.setUint32(STAGING_PTR_OFFSET, stagingAddr, true);
  return image;
}

/**
 * Physical bytes QEMU writes from the load address on: the image and its
 * stack padded to a page, then a page of command line and loader name.
 */
export function homeFootprint(stub: ProbeStub): number {
  const kernel = Math.ceil((stub.image.byteLength + HOME_STACK_BYTES) / PAGE_BYTES) * PAGE_BYTES;
  return kernel + PAGE_BYTES;
}
