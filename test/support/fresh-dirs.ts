import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** A maker of new, empty directories `case-0`, `case-1`, ... under `root`, one a call. */
export function freshDirsUnder(root: string): () => string {
  let serial = 0;
  return () => {
    const dir = join(root, `case-${serial++}`);
    mkdirSync(dir);
    return dir;
  };
}
