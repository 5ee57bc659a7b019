/** Translations as the verifier's tests write them: permissions as letters, w writable, u user, x executable. */
import type { Access, MappedRange } from '../../src/verify/model.js';
import type { Translation } from '../../src/verify/ranges.js';

const access = (perms: string): Access =>
  ({ writable: perms.includes('w'), user: perms.includes('u'), executable: perms.includes('x') });

export const range = (virt: bigint, phys: bigint, size: bigint, perms: string): MappedRange => ({ virt, phys, size, ...access(perms) });

/** A range mapped where it lies: virtual = physical. */
export const identityRange = (start: bigint, size: bigint, perms: string): MappedRange => range(start, start, size, perms);

export const translation = (phys: bigint, perms: string): Translation => ({ phys, ...access(perms) });
