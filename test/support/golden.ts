import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'gen');

export const readGolden = (name: string): Uint8Array => new Uint8Array(readFileSync(join(GOLDEN_DIR, `${name}.bin`)));
