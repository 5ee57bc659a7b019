/**
 * What an emulator wrote into the tables while probing, entry by entry, and
 * whether the SDM allows it: a walk sets the accessed flag (bit 5) of the
 * entries it uses and a write sets the dirty flag (bit 6) of the leaf; a PAE
 * PDPTE has no accessed flag (bit 5 is reserved), so setting it there is a
 * quirk (QEMU's TCG does); any other change is a finding.
 */
import type { EngineInput } from '../verify/model.js';
import { topTablePhys } from '../verify/paging-modes.js';
import { hex } from './probe/pages.js';

export interface TableChange {
  readonly entryAddr: bigint;
  readonly level: string;
  readonly before: bigint;
  readonly after: bigint;
  readonly kind: 'architectural' | 'pdpte-accessed' | 'finding';
  readonly message: string;
}

const ACCESSED_DIRTY = 0x60n;
const ACCESSED = 0x20n;

/** Changes from XOR words by physical address (what the stub's `a PHYS XOR` lines say, or a memory read-back). */
export function tableChangesFrom(input: EngineInput, xors: ReadonlyMap<bigint, number>): TableChange[] {
  const entryBytes = input.mode === '32bit' ? 4n : 8n;
  const byEntry = new Map<bigint, bigint>();
  for (const [phys, xor] of xors) {
    const entry = phys - (phys % entryBytes);
    const shift = (phys - entry) * 8n;
    byEntry.set(entry, (byEntry.get(entry) ?? 0n) | (BigInt(xor >>> 0) << shift));
  }
  const view = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  const top = topTablePhys(input.mode, input.tablesPhys, input.tables.byteLength);
  const changes: TableChange[] = [];
  for (const [entryAddr, xor] of [...byEntry].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const offset = Number(entryAddr - input.tablesPhys);
    if (offset < 0 || offset + Number(entryBytes) > input.tables.byteLength) continue;
    const before = entryBytes === 4n ? BigInt(view.getUint32(offset, true)) : view.getBigUint64(offset, true);
    const after = before ^ xor;
    const pdpte = input.mode === 'pae' && entryAddr >= top && entryAddr < top + 32n;
    const onlySets = (xor & before) === 0n;
    let kind: TableChange['kind'] = 'finding';
    let message = `changed entry ${hex(entryAddr)} from ${hex(before)} to ${hex(after)} while probing`;
    if (onlySets && (xor & ~ACCESSED_DIRTY) === 0n) {
      if (pdpte && (xor & ACCESSED) !== 0n) {
        kind = 'pdpte-accessed';
        message = `wrote the accessed bit into PAE PDPTE ${hex(entryAddr)} (bit 5 is reserved there): ${hex(before)} became ${hex(after)}`;
      } else if (!pdpte) {
        kind = 'architectural';
        message = `set the accessed/dirty bits of entry ${hex(entryAddr)}: ${hex(before)} became ${hex(after)}`;
      }
    }
    changes.push({ entryAddr, level: pdpte ? 'PDPTE' : 'entry', before, after, kind, message });
  }
  return changes;
}

/** The stub's `a PHYS XOR` lines for a case, as table changes. */
export function classifyTableChanges(input: EngineInput, lines: readonly string[]): TableChange[] {
  const xors = new Map<bigint, number>();
  for (const line of lines) {
    const m = /^a ([0-9a-f]+) ([0-9a-f]+)$/.exec(line);
    if (m) xors.set(BigInt(`0x${m[1]}`), Number.parseInt(m[2]!, 16));
  }
  return tableChangesFrom(input, xors);
}

/** Changes between the input tables and the same bytes read back from guest memory. */
export function tableChangesAfter(input: EngineInput, after: Uint8Array): TableChange[] {
  const xors = new Map<bigint, number>();
  const a = new DataView(input.tables.buffer, input.tables.byteOffset, input.tables.byteLength);
  const b = new DataView(after.buffer, after.byteOffset, after.byteLength);
  for (let at = 0; at + 4 <= Math.min(input.tables.byteLength, after.byteLength); at += 4) {
    const xor = (a.getUint32(at, true) ^ b.getUint32(at, true)) >>> 0;
    if (xor !== 0) xors.set(input.tablesPhys + BigInt(at), xor);
  }
  return tableChangesFrom(input, xors);
}
