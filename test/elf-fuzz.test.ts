/**
 * Fuzzing the ELF reader: random bytes and mutated valid images (the writer's
 * and GNU ld's) must either parse or be refused with one InputError line;
 * nothing else may escape, and memory stays bounded. Fixed seeds; set
 * X86PT_LONG_FUZZ=1 for a campaign twenty times longer.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/core/errors.js';
import { SHT_DYNSYM } from '../src/elf/format.js';
import { parseElf } from '../src/elf/reader.js';
import { writeElf, type ElfSymbolDef } from '../src/elf/writer.js';
import { scratchDir } from './support/cli.js';
import { linkKernel } from './support/gnu.js';
import { fieldSites, readSectionHeaders, withHeaderField, withSectionField, withSectionTable, type FieldSite } from './support/elf-patch.js';

const LONG = process.env.X86PT_LONG_FUZZ === '1';
const SCALE = LONG ? 20 : 1;
const TIMEOUT_MS = LONG ? 60 * 60_000 : 60_000;
const SEED = 0x86e1f;
const SOURCE = 'fuzz.elf';
const RANDOM_RUNS = 20_000 * SCALE;
const IDENT_RUNS = 30_000 * SCALE;
const MUTATION_RUNS = 300_000 * SCALE;

/** Runs per fast-check call; the campaign yields to the event loop between calls so the test runner stays responsive. */
const CHUNK = 50_000;

/** Checks `property` on `runs` inputs, in chunks with seeds derived from `seed`. */
async function campaignRuns<T>(input: fc.Arbitrary<T>, runs: number, seed: number, property: (value: T) => void): Promise<void> {
  for (let done = 0, chunk = 0; done < runs; chunk++) {
    const numRuns = Math.min(CHUNK, runs - done);
    fc.assert(fc.property(input, property), { seed: seed + chunk * 7919, numRuns });
    done += numRuns;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Growth of the JS heap plus ArrayBuffers allowed over the whole campaign (sampled). */
const HEAP_GROWTH_LIMIT = 256 * 1024 * 1024;
const SAMPLE_EVERY = 1000;

/** Outcomes of a campaign: how many inputs, how many parsed, and each refusal kind seen. */
class Campaign {
  inputs = 0;
  accepted = 0;
  readonly refusals = new Map<string, number>();
  private readonly baseline = Campaign.memory();
  peakGrowth = 0;

  private static memory(): number {
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
  }

  /** The property: parseElf returns a well-formed result or throws a one-line InputError naming the source. */
  check(bytes: Uint8Array): void {
    this.inputs++;
    if (this.inputs % SAMPLE_EVERY === 0) this.peakGrowth = Math.max(this.peakGrowth, Campaign.memory() - this.baseline);
    let result;
    try {
      result = parseElf(bytes, SOURCE);
    } catch (err) {
      if (!(err instanceof InputError)) throw err; // fast-check reports the input that let it escape
      if (!err.message.startsWith(`${SOURCE}: `) || /[\r\n]/.test(err.message)) throw new Error(`badly formed refusal: ${err.message}`);
      const kind = err.message.slice(SOURCE.length + 2).replace(/0x[0-9a-f]+|\d+/g, 'N');
      this.refusals.set(kind, (this.refusals.get(kind) ?? 0) + 1);
      return;
    }
    this.accepted++;
    if (result.elfClass !== 32 && result.elfClass !== 64) throw new Error(`class ${String(result.elfClass)}`);
    const limit = 1n << BigInt(result.elfClass);
    for (const [name, value] of result.symbols) {
      if (typeof name !== 'string' || value < 0n || value >= limit) throw new Error(`symbol ${name} = ${value} out of range`);
    }
  }

  /** Refusal kinds whose text contains `fragment`. */
  seen(fragment: string): number {
    let n = 0;
    for (const [kind, count] of this.refusals) if (kind.includes(fragment)) n += count;
    return n;
  }
}

/** A valid image to mutate, and the header, section and symbol fields in it. */
interface Base {
  readonly label: string;
  readonly bytes: Uint8Array;
  readonly sites: readonly FieldSite[];
  /** values of each site in the unmutated image, for "near the real value" mutations */
  readonly original: readonly bigint[];
}

function base(label: string, bytes: Uint8Array, sitesFrom: Uint8Array = bytes): Base {
  const sites = fieldSites(sitesFrom);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const original = sites.map(({ offset, width }) =>
    width === 8 ? view.getBigUint64(offset, true) : BigInt(width === 4 ? view.getUint32(offset, true) : width === 2 ? view.getUint16(offset, true) : view.getUint8(offset)),
  );
  return { label, bytes, sites, original };
}

const KERNEL: Record<32 | 64, ElfSymbolDef[]> = {
  32: [
    { name: 'CONFIG_SRAM_BASE_ADDRESS', value: 0x100000n },
    { name: 'CONFIG_SRAM_SIZE', value: 4096n },
    { name: 'CONFIG_KERNEL_VM_BASE', value: 0x100000n },
    { name: 'z_x86_pagetables_start', value: 0xfffff000n },
  ],
  64: [
    { name: 'CONFIG_X86_64', value: 1n },
    { name: 'CONFIG_SRAM_BASE_ADDRESS', value: 0x100000n },
    { name: 'CONFIG_KERNEL_VM_BASE', value: 0xffff800000100000n },
    { name: 'z_x86_pagetables_start', value: 0xffffffffffffffffn },
  ],
};

/** Writer images of both classes, the same with extended numbering and with a .dynsym first, and ld's kernels. */
async function makeBases(dir: string): Promise<Base[]> {
  const bases: Base[] = [];
  for (const elfClass of [32, 64] as const) {
    const image = writeElf({ elfClass, symbols: KERNEL[elfClass] });
    bases.push(base(`writer ELF${elfClass}`, image));
    bases.push(base(`writer ELF${elfClass} empty`, writeElf({ elfClass, symbols: [] })));
    bases.push(base(`writer ELF${elfClass} extended count`, withSectionField(withHeaderField(image, 'e_shnum', 0), 0, 'sh_size', 4), image));
    const [nul, symtab, strtab, shstrtab] = readSectionHeaders(image);
    const twoTables = withSectionTable(image, [nul!, { ...symtab!, sh_type: BigInt(SHT_DYNSYM), sh_link: 3n }, { ...symtab!, sh_link: 3n }, strtab!, shstrtab!], 4);
    bases.push(base(`writer ELF${elfClass} .dynsym first`, twoTables));
    // A copy: a Buffer's slice() is a view, and the bases must stay intact.
    bases.push(base(`ld ELF${elfClass}`, new Uint8Array(readFileSync(await linkKernel(elfClass, KERNEL[elfClass], dir)))));
  }
  return bases;
}

/** A field value: a constant, the file length plus a delta, or the field's real value plus a delta. */
type FieldValue = { readonly constant: bigint } | { readonly lengthPlus: number } | { readonly originalPlus: number };

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'byte'; readonly at: number; readonly value: number }
  | { readonly kind: 'field'; readonly site: number; readonly value: FieldValue }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'append'; readonly bytes: Uint8Array };

const EXTREMES = [
  0n, 1n, 2n, 3n, 0x7fn, 0x80n, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xfffffff0n, 0xffffffffn,
  1n << 32n, 0x7fffffffffffffffn, 1n << 63n, 0xffffffffffffffffn, 0xfffffffffffffff0n,
];

const fieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  fc.constantFrom(...EXTREMES).map((constant) => ({ constant })),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((constant) => ({ constant })),
  fc.integer({ min: -64, max: 16 }).map((lengthPlus) => ({ lengthPlus })),
  fc.integer({ min: -32, max: 32 }).map((originalPlus) => ({ originalPlus })),
);

/** A byte or field index, taken modulo the count; unbiased so that the whole image is hit, not mostly its start. */
const position = fc.noBias(fc.nat());

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('byte' as const), at: position, value: fc.nat(255) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('field' as const), site: position, value: fieldValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: position }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }) },
);

function mutate(from: Base, mutations: readonly Mutation[]): Uint8Array {
  let bytes = new Uint8Array(from.bytes);
  for (const m of mutations) {
    if (bytes.length === 0) break;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    switch (m.kind) {
      case 'flip':
        bytes[m.at % bytes.length]! ^= 1 << m.bit;
        break;
      case 'byte':
        bytes[m.at % bytes.length] = m.value;
        break;
      case 'truncate':
        bytes = new Uint8Array(bytes.subarray(0, m.at % bytes.length));
        break;
      case 'append': {
        const longer = new Uint8Array(bytes.length + m.bytes.length);
        longer.set(bytes);
        longer.set(m.bytes, bytes.length);
        bytes = longer;
        break;
      }
      case 'field': {
        const index = m.site % from.sites.length;
        const site = from.sites[index]!;
        if (site.offset + site.width > bytes.length) break;
        const v = 'constant' in m.value ? m.value.constant
          : 'lengthPlus' in m.value ? BigInt(bytes.length + m.value.lengthPlus)
          : from.original[index]! + BigInt(m.value.originalPlus);
        const bits = BigInt.asUintN(site.width * 8, v);
        if (site.width === 8) view.setBigUint64(site.offset, bits, true);
        else if (site.width === 4) view.setUint32(site.offset, Number(bits), true);
        else if (site.width === 2) view.setUint16(site.offset, Number(bits), true);
        else view.setUint8(site.offset, Number(bits));
        break;
      }
    }
  }
  return bytes;
}

describe('ELF reader fuzzing', () => {
  const dir = scratchDir('x86pt-elf-fuzz-');
  let bases: Base[] = [];
  beforeAll(async () => {
    bases = await makeBases(dir);
  });

  it('random bytes are refused with an InputError', async () => {
    const campaign = new Campaign();
    await campaignRuns(fc.uint8Array({ maxLength: 256 }), RANDOM_RUNS, SEED, (bytes) => campaign.check(bytes));
    expect(campaign.inputs).toBe(RANDOM_RUNS);
    expect(campaign.seen('not an ELF file')).toBeGreaterThan(0);
    expect(campaign.peakGrowth).toBeLessThan(HEAP_GROWTH_LIMIT);
  }, TIMEOUT_MS);

  it('random bytes behind a valid identification are refused with an InputError', async () => {
    const campaign = new Campaign();
    const ident = fc.tuple(fc.constantFrom(1, 2, 0, 3, 255), fc.constantFrom(1, 1, 1, 2, 0), fc.uint8Array({ minLength: 10, maxLength: 10 }));
    const input = fc.tuple(ident, fc.uint8Array({ minLength: 36, maxLength: 512, size: 'max' })).map(([[cls, data, rest], body]) => {
      const bytes = new Uint8Array(16 + body.length);
      bytes.set([0x7f, 0x45, 0x4c, 0x46, cls, data, ...rest]);
      bytes.set(body, 16);
      return bytes;
    });
    await campaignRuns(input, IDENT_RUNS, SEED + 1, (bytes) => campaign.check(bytes));
    for (const kind of ['unknown ELF class', 'big-endian', 'truncated ELF header', 'bad e_shentsize']) {
      expect(campaign.seen(kind), kind).toBeGreaterThan(0);
    }
    expect(campaign.peakGrowth).toBeLessThan(HEAP_GROWTH_LIMIT);
  }, TIMEOUT_MS);

  it('mutated ELF32/ELF64 images (bit flips, truncations, extreme header, section and symbol fields) parse or are refused with an InputError', async () => {
    const campaign = new Campaign();
    const perBase = new Map<string, number>();
    const input = fc.record({ base: fc.nat(bases.length - 1), mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }) });
    await campaignRuns(input, MUTATION_RUNS, SEED + 2, ({ base: index, mutations }) => {
      const from = bases[index]!;
      perBase.set(from.label, (perBase.get(from.label) ?? 0) + 1);
      campaign.check(mutate(from, mutations));
    });
    expect(campaign.inputs).toBe(MUTATION_RUNS);
    expect([...perBase.keys()].sort()).toEqual(bases.map((b) => b.label).sort());
    // The mutations reach every check, and many still parse.
    expect(campaign.accepted).toBeGreaterThan(campaign.inputs / 20);
    for (const kind of [
      'section header table out of bounds', 'bad e_shentsize', 'no symbol table', 'bad sh_entsize', 'symbol table (section',
      'not a multiple of its entry size', 'which is not a string table', 'string table (section', 'but there are only',
      'not NUL-terminated', 'outside its string table', 'truncated ELF header', 'unknown ELF class', 'no sections',
    ]) {
      expect(campaign.seen(kind), kind).toBeGreaterThan(0);
    }
    expect(campaign.peakGrowth).toBeLessThan(HEAP_GROWTH_LIMIT);
  }, TIMEOUT_MS);
});
