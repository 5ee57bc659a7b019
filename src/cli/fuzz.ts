/** The `fuzz` command: property-based fuzzing of x86pt's generator or of any gen_mmu.py-compatible one. */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT_FAILED, EXIT_OK, InputError } from '../core/errors.js';
import { runAction } from './command.js';
import { PAGING_MODES, type Engine, type PagingMode } from '../verify/model.js';
import { ENGINE_NAMES } from '../engines/index.js';
import { FINDING_KINDS, FINDING_MEANINGS, type FindingKind } from '../fuzz/findings.js';

interface FuzzFlags {
  workers: string;
  shard?: string;
  report?: string;
  merge?: boolean;
  runs: string;
  seed?: string;
  path?: string;
  modes: string;
  generator?: string;
  timeout: string;
  compat?: boolean;
  engine: string;
  save?: string;
  ignore?: string;
  refusalExit?: string;
  shrinkBudget: string;
  determinism: boolean;
  progress: boolean;
}

const DEFAULT_RUNS = 1000;
const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_SHRINK_BUDGET = 2000;

function parseCount(text: string, option: string, min: number, max: number): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new InputError(`${option}: '${text}' is not a whole number from ${min} to ${max}`);
  return value;
}

function parseSeed(text: string): number {
  const value = /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) throw new InputError(`--seed: '${text}' is not a 32-bit integer`);
  return value;
}

function parseModes(text: string): PagingMode[] {
  const modes = text.split(',').map((m) => m.trim()).filter((m) => m.length > 0);
  if (modes.length === 0) throw new InputError('--modes: name at least one paging mode');
  for (const m of modes) {
    if (!(PAGING_MODES as readonly string[]).includes(m)) throw new InputError(`--modes: unknown paging mode '${m}' (choose from ${PAGING_MODES.join(', ')})`);
  }
  return [...new Set(modes)] as PagingMode[];
}

function parseKinds(text: string | undefined): FindingKind[] {
  if (text === undefined) return [];
  const kinds = text.split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  for (const k of kinds) {
    if (!(FINDING_KINDS as readonly string[]).includes(k)) throw new InputError(`--ignore: unknown finding kind '${k}' (choose from ${FINDING_KINDS.join(', ')})`);
  }
  return kinds as FindingKind[];
}

function parsePath(text: string): string {
  if (!/^\d+(:\d+)*$/.test(text.trim())) throw new InputError(`--path: '${text}' is not a fast-check path (numbers separated by ':', as a report prints it)`);
  return text.trim();
}

const KIND_HELP = FINDING_KINDS.map((k) => `  ${k.padEnd(20)} ${FINDING_MEANINGS[k]}`).join('\n');

/** Draws a progress bar on a terminal; nothing otherwise. */
async function progressBar(enabled: boolean) {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const { default: progress } = await import('cli-progress');
  const bar = new progress.SingleBar({
    format: 'fuzz {phase} [{bar}] {value}/{total} {unit} | {rate}/s | {duration_formatted}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    fps: 10,
  }, progress.Presets.shades_classic);
  let phase: 'search' | 'shrink' | null = null;
  let started = performance.now();
  return {
    update(p: { phase: 'search' | 'shrink'; done: number; total: number }) {
      if (p.phase !== phase) {
        if (phase !== null) bar.stop();
        phase = p.phase;
        started = performance.now();
        bar.start(p.total, 0, { phase: p.phase === 'search' ? 'searching' : 'shrinking', unit: p.phase === 'search' ? 'layouts' : 'cases', rate: 0 });
      }
      const seconds = (performance.now() - started) / 1000;
      bar.update(p.done, { rate: seconds > 0 ? Math.round(p.done / seconds) : 0 });
    },
    stop() {
      if (phase !== null) bar.stop();
    },
  };
}

async function closeEngine(engine: Engine): Promise<void> {
  const closable = engine as Engine & { close?: () => Promise<void> | void };
  if (typeof closable.close === 'function') await closable.close();
}

/** `--merge a.json b.json ...`: the shards' reports as one summary and exit status. */
async function mergeReports(files: readonly string[]): Promise<number> {
  const { readShardReport, mergeShardReports, mergedSummary } = await import('../fuzz/shards.js');
  const merged = mergeShardReports(files.map((file) => ({ ...readShardReport(file), file })));
  process.stdout.write(mergedSummary(merged));
  return merged.counterexample ? EXIT_FAILED : EXIT_OK;
}

async function fuzz(flags: FuzzFlags, files: readonly string[] = []): Promise<number> {
  if (flags.merge) return mergeReports(files);
  if (files.length > 0) throw new InputError(`unexpected argument '${files[0]}' (report files go with --merge)`);
  const { parseShard, shardReport } = await import('../fuzz/shards.js');
  const shard = flags.shard !== undefined ? parseShard(flags.shard) : undefined;
  const workers = parseCount(flags.workers, '--workers', 1, 1024);
  if (workers > 1 && flags.path === undefined) {
    const { runWorkers } = await import('../fuzz/workers.js');
    const { mergedSummary } = await import('../fuzz/shards.js');
    const at = process.argv.indexOf('fuzz');
    const merged = await runWorkers(process.argv[1]!, process.argv.slice(at + 1), workers, shard);
    process.stdout.write(mergedSummary(merged));
    if (flags.report !== undefined) {
      const { writeFileAtomic } = await import('../core/io.js');
      const seed = merged.seed;
      writeFileAtomic(flags.report, `${JSON.stringify({ format: 'x86pt-fuzz-shard/1', seed, runs: merged.runs, modes: parseModes(flags.modes), engine: flags.engine, shard: shard ?? { index: 0, count: 1 }, stats: merged.stats, interrupted: merged.interrupted, counterexample: merged.counterexample }, null, 2)}\n`);
    }
    return merged.counterexample ? EXIT_FAILED : EXIT_OK;
  }
  const runs = parseCount(flags.runs, '--runs', 1, 100_000_000);
  const seed = flags.seed !== undefined ? parseSeed(flags.seed) : randomInt(0, 2 ** 31);
  const path = flags.path !== undefined ? parsePath(flags.path) : undefined;
  if (path !== undefined && flags.seed === undefined) throw new InputError('--path needs the --seed it was found with');
  const modes = parseModes(flags.modes);
  const timeoutMs = parseCount(flags.timeout, '--timeout', 1, 24 * 3600 * 1000);
  const shrinkBudget = parseCount(flags.shrinkBudget, '--shrink-budget', 0, 100_000_000);
  const ignoreList = parseKinds(flags.ignore);
  const refusalExit = flags.refusalExit !== undefined ? parseCount(flags.refusalExit, '--refusal-exit', 1, 255) : undefined;
  if (flags.compat && flags.generator !== undefined) throw new InputError('--compat applies to the in-process generator; give the external command its own options instead');
  if (!(ENGINE_NAMES as readonly string[]).includes(flags.engine)) throw new InputError(`--engine: unknown engine '${flags.engine}' (choose from ${ENGINE_NAMES.join(', ')})`);

  const { inProcessGenerator, commandGenerator } = await import('../fuzz/generators.js');
  const { runCampaign } = await import('../fuzz/campaign.js');
  const { campaignSummary, counterexampleReport, saveCounterexample } = await import('../fuzz/report.js');
  const { loadEngine } = await import('../engines/index.js');

  const workDir = flags.generator !== undefined ? mkdtempSync(join(tmpdir(), 'x86pt-fuzz-')) : undefined;
  const engine = await loadEngine(flags.engine);
  const bar = await progressBar(flags.progress && process.stderr.isTTY === true);
  // Ctrl-C ends the search after the case at hand; the summary still comes, and a second Ctrl-C quits at once.
  const stop = new AbortController();
  const interrupt = (): void => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', interrupt);
  try {
    const generator = flags.generator !== undefined
      ? commandGenerator(flags.generator, { timeoutMs, workDir: workDir! })
      : inProcessGenerator({ compat: flags.compat ?? false });
    const settings = {
      seed, modes, engine: flags.engine, ignore: ignoreList, determinism: flags.determinism,
      ...(flags.generator !== undefined ? { generator: flags.generator, timeoutMs } : {}),
      ...(flags.compat ? { compat: true } : {}),
      ...(refusalExit !== undefined ? { refusalExit } : {}),
    };
    const result = await runCampaign({
      modes, runs, seed, shrinkBudget, generator, engine, determinism: flags.determinism, ignore: new Set(ignoreList), stop: stop.signal,
      ...(path !== undefined ? { path } : {}),
      ...(refusalExit !== undefined ? { refusalExit } : {}),
      ...(shard !== undefined ? { shard } : {}),
    }, { onProgress: (p) => bar.update(p) });
    bar.stop();
    if (flags.report !== undefined) {
      const { writeFileAtomic } = await import('../core/io.js');
      writeFileAtomic(flags.report, `${JSON.stringify(shardReport(result, { runs, modes, engine: flags.engine, ...(shard ? { shard } : {}) }), null, 2)}\n`);
    }
    process.stdout.write(campaignSummary(result, settings, generator.description));
    const cx = result.counterexample;
    if (!cx) return EXIT_OK;
    const saved = flags.save !== undefined
      ? saveCounterexample(flags.save, cx, (paths) => counterexampleReport(cx, settings, paths))
      : [];
    process.stdout.write(counterexampleReport(cx, settings, saved));
    return EXIT_FAILED;
  } finally {
    process.off('SIGINT', interrupt);
    bar.stop();
    await closeEngine(engine);
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  }
}

export function registerFuzzCommand(program: Command): void {
  program
    .command('fuzz')
    .description('fuzz a page-table generator with random kernel layouts: x86pt\'s own, or any command with gen_mmu.py\'s arguments')
    .option('--runs <n>', 'layouts to try', String(DEFAULT_RUNS))
    .option('--workers <n>', 'child processes judging the campaign in parallel (its shards, merged; the counterexample of the lowest index)', '1')
    .option('--shard <K/N>', 'judge only shard K of N of the campaign (every N-th layout of the seed\'s sequence), for a CI matrix')
    .option('--report <file>', 'also write what was found as JSON (for --merge)')
    .option('--merge', 'merge the shard reports given as arguments into one summary and exit status')
    .argument('[reports...]', 'with --merge: the shards\' --report files')
    .option('--seed <n>', 'seed of the layout sequence (32-bit integer; random when omitted, always printed)')
    .option('--path <path>', 'replay the case a report names (with its --seed and --modes) and keep shrinking it')
    .option('--modes <list>', 'paging modes to draw layouts from, comma-separated', PAGING_MODES.join(','))
    .option('--generator <command>', 'run this command per layout instead of the built-in generator; {kernel} and {output} are replaced by paths, e.g. \'python3 gen_mmu.py -k {kernel} -o {output}\'')
    .option('--timeout <ms>', 'time bound of one run of --generator', String(DEFAULT_TIMEOUT_MS))
    .option('--compat', 'the built-in generator writes gen_mmu.py\'s bytes (reserved bits in PAE PDPTEs: found as violations)')
    .option('--engine <name>', `what observes the translations (${ENGINE_NAMES.join(', ')}); the walker's architectural checks run regardless`, 'walker')
    .option('--save <dir>', 'write the counterexample\'s kernel.elf, tables.bin and report.txt into DIR')
    .option('--ignore <kinds>', 'finding kinds that do not count, comma-separated (they are still tallied)')
    .option('--refusal-exit <code>', 'exit status a refusal must have (x86pt: 2); any non-zero status when omitted')
    .option('--shrink-budget <n>', 'most cases judged while shrinking a counterexample', String(DEFAULT_SHRINK_BUDGET))
    .option('--no-determinism', 'run the generator once per layout instead of twice (skips the same-bytes check)')
    .option('--no-progress', 'no progress bar, even on a terminal')
    .addHelpText('after', `
Each layout becomes a real kernel ELF; the generator's answer is judged against
the layout policy's spec and the SDM walker. A layout the policy accepts must
get tables that translate exactly as specified, break no architectural rule,
have the minimal size with the top-level table last, and come out the same
twice. A layout the policy refuses must be refused (non-zero exit, or
--refusal-exit) with nothing written. The first finding is shrunk to a minimal
layout failing the same way, printed with its seed and path and a command
that reproduces it.

Finding kinds (for --ignore):
${KIND_HELP}

A generator that writes tables for a layout the policy refuses is a finding
(accepted-refused) whatever the tables hold: each refusal rule marks a layout
no tables can serve as the ELF asks (gen_mmu.py builds several of them wrong,
silently). To look past those and fuzz the rest, add --ignore accepted-refused.

Examples:
  x86pt fuzz --runs 5000
  x86pt fuzz --modes pae --ignore accepted-refused --generator 'python3 gen_mmu.py -k {kernel} -o {output}'
  x86pt fuzz --modes 32bit,ia32e --ignore accepted-refused --generator './my_gen_mmu.py -k {kernel} -o {output}' --save cx

Exit status: 0 no counterexample, 1 counterexample found (printed shrunk), 2 bad usage.`)
    .action(runAction((files: string[], flags: FuzzFlags) => fuzz(flags, files)));
}
