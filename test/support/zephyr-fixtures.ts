import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SymbolKernel } from '../../src/elf/kernel.js';
import type { ZephyrEra } from '../../src/elf/zephyr-era.js';

export const ZEPHYR_FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'zephyr');

/** A real Zephyr build reduced to what its gen_mmu.py reads, as committed in test/fixtures/zephyr/<build>.json. */
export interface ZephyrFixture {
  readonly build: string;
  readonly era: ZephyrEra;
  /** The script's arguments beyond -k and -o (e.g. --map). */
  readonly args: readonly string[];
  readonly kernel: SymbolKernel;
}

interface FixtureJson {
  era: ZephyrEra;
  elfClass: 32 | 64;
  args: string[];
  symbols: Record<string, string>;
  sizes: Record<string, string>;
}

const values = (record: Record<string, string>): Record<string, bigint> =>
  Object.fromEntries(Object.entries(record).map(([name, value]) => [name, BigInt(value)]));

export function readZephyrFixture(build: string): ZephyrFixture {
  const json = JSON.parse(readFileSync(join(ZEPHYR_FIXTURE_DIR, `${build}.json`), 'utf8')) as FixtureJson;
  return { build, era: json.era, args: json.args, kernel: { elfClass: json.elfClass, symbols: values(json.symbols), sizes: values(json.sizes) } };
}

export const zephyrFixtureBuilds = (): string[] =>
  readdirSync(ZEPHYR_FIXTURE_DIR).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, '')).sort();
