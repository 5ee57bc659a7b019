/**
 * x86pt as a library: generate early-boot x86 page tables from a kernel's
 * symbols, and verify table bytes against what the symbols ask for.
 */

// Kernel ELFs.
export { readElf, parseElf, type ElfSymbols } from './elf/reader.js';
export { writeElf, type ElfImage, type ElfSymbolDef } from './elf/writer.js';
export { kernelElf, kernelSymbols, type KernelDescription, type PagingModeName, type Region, type RegionName } from './elf/kernel.js';

// The generator.
export { generateTables, buildTables, type GenerateOptions, type GeneratedTables } from './gen/generate.js';
export { layoutFromSymbols, type Layout } from './gen/layout.js';
export { MODES, type ModeHierarchy, type Level } from './gen/modes.js';
export type { PhysAddr, VirtAddr } from './core/addr.js';
export type { PageFlags } from './gen/flags.js';
export { InputError, EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT } from './core/errors.js';

// The verifier: independent of the generator.
export { checkTables, RefusedLayoutError, type CheckInput, type VerifyResult } from './verify/check.js';
export { specFromSymbols, type Spec } from './verify/spec.js';
export { createWalker, walkTables, type PageWalker, type WalkResult, type WalkerOptions, type AddressWalk, type WalkStep } from './verify/walker.js';
export { lookupAddress, lookupText, lookupJson, type LookupReport, type LookupStop } from './verify/lookup.js';
export { rawDump, rawDumpText, rawDumpJson, writeRawDump, decodeEntry, type RawDump, type RawEntry, type DecodedEntry } from './verify/raw.js';
export { filterRanges, accessMatches, ONLY_WORDS, type EntryFilter, type OnlyWord } from './verify/filters.js';
export { compareRanges, type Mismatch } from './verify/compare.js';
export { loadEngine, ENGINE_NAMES } from './engines/index.js';
export type { Engine, EngineInput, EngineReport, MappedRange, Violation, VirtSpan, WalkOptions } from './verify/model.js';
