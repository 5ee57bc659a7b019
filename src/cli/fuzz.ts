/** The `fuzz` command: property-based fuzzing of x86pt's generator or of any gen_mmu.py-compatible one. */
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { registerTemp, withInterruptHandler } from '../core/cleanup.js';
import { ensureDirectory } from '../core/io.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { EXIT_FAILED, EXIT_OK, InputError } from '../core/errors.js';
import { runAction } from './command.js';
import { PAGING_MODES, type Engine, type PagingMode } from '../verify/model.js';
import { ENGINE_NAMES } from '../engines/index.js';
import { FINDING_KINDS, FINDING_MEANINGS, type FindingKind } from '../fuzz/findings.js';
import { isZephyrEra, ZEPHYR_ERAS, type ZephyrEra } from '../elf/zephyr-era.js';

interface FuzzFlags {
  workers?: string;
  chunkWorker?: boolean;
  shard?: string;
  report?: string;
  merge?: boolean;
  runs: string;
  seed?: string;
  path?: string;
  modes: string;
  zephyr: string;
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

/** `--zephyr`: eras by name, comma-separated; `all` is every era, the seed first. */
function parseEras(text: string): ZephyrEra[] {
  const names = text.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
  const eras = names.flatMap((e) => (e === 'all' ? [...ZEPHYR_ERAS] : [e]));
  if (eras.length === 0) throw new InputError('--zephyr: name at least one era');
  for (const e of eras) if (!isZephyrEra(e)) throw new InputError(`--zephyr: unknown era '${e}' (choose from ${ZEPHYR_ERAS.join(', ')}, or all)`);
  return [...new Set(eras)] as ZephyrEra[];
}

function parseKinds(text: string | undefined): FindingKind[] {
  if (text === undefined) return [];
  const kinds = text.split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  for (const k of kinds) {
    if (!(FINDING_KINDS as readonly string[]).includes(k)) throw new InputError(`--ignore: unknown finding kind '${k}' (choose from ${FINDING_KINDS.join(', ')})`);
  }
  return kinds as FindingKind[];
}

/** Longest replay path: each step is one shrink, and no shrink sequence of a layout comes near it. */
const MAX_PATH_STEPS = 10_000;
/** Largest number at one step of a replay path after the first: fast-check walks a shrink stream to it. */
const MAX_PATH_SHRINK_INDEX = 100_000;

/**
 * A fast-check path: the run (below --runs, since replaying run N draws the N
 * layouts before it), then shrink steps. Bounded, so a mistyped path is
 * refused instead of replaying for hours.
 */
function parsePath(text: string, runs: number): string {
  if (!/^\d+(:\d+)*$/.test(text.trim())) throw new InputError(`--path: '${text}' is not a fast-check path (numbers separated by ':', as a report prints it)`);
  const steps = text.trim().split(':').map(Number);
  if (steps.length > MAX_PATH_STEPS) throw new InputError(`--path: ${steps.length} steps is more than the ${MAX_PATH_STEPS} a shrunk case can have`);
  if (!(steps[0]! < runs)) throw new InputError(`--path: run ${steps[0]} is not below --runs ${runs} (give the --runs the case was found with)`);
  const far = steps.slice(1).find((n) => !(n <= MAX_PATH_SHRINK_INDEX));
  if (far !== undefined) throw new InputError(`--path: shrink step ${far} is beyond ${MAX_PATH_SHRINK_INDEX}; no layout shrinks that many ways`);
  return text.trim();
}

const KIND_HELP = FINDING_KINDS.map((k) => `  ${k.padEnd(20)} ${FINDING_MEANINGS[k]}`).join('\n');

/** What the progress display is told: the campaign's phase and how far it is. */
interface ProgressUpdate {
  readonly phase: 'search' | 'shrink';
  readonly done: number;
  readonly total: number;
}

interface ProgressDisplay {
  update(p: ProgressUpdate): void;
  stop(): void;
}

const PHASE_WORDS = { search: { verb: 'searching', unit: 'layouts' }, shrink: { verb: 'shrinking', unit: 'cases' } } as const;

/** Seconds as a person reads them: '42 s', '3 min 05 s', '2 h 07 min'. */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** How often a log without a terminal gets a progress line. */
export const PROGRESS_LINE_SECONDS = 5;

/**
 * Progress for a log (stderr not a terminal): one line every few seconds,
 * and one when a phase ends after having printed, so CI shows a long
 * campaign moving. Shrinking runs until it finds nothing smaller, so its
 * total is a bound and its estimate an upper one.
 */
export function progressLines(write: (line: string) => void, now: () => number = () => performance.now()): ProgressDisplay {
  let phase: ProgressUpdate['phase'] | null = null;
  // A phase starts when the one before ended (its last case), the first when the display was made.
  let lastUpdate = now();
  let started = lastUpdate;
  let lastLine = lastUpdate;
  let last: ProgressUpdate | null = null;
  let shown: ProgressUpdate | null = null;
  const line = (p: ProgressUpdate): void => {
    const elapsed = (lastUpdate - started) / 1000;
    const rate = elapsed > 0 ? p.done / elapsed : 0;
    const left = rate > 0 ? (p.total - p.done) / rate : NaN;
    const words = PHASE_WORDS[p.phase];
    const eta = Number.isFinite(left) ? `, ${p.phase === 'shrink' ? 'at most ' : ''}${formatSeconds(left)} left` : '';
    write(`x86pt fuzz: ${words.verb} ${p.done}/${p.total} ${words.unit} (${Math.floor((100 * p.done) / Math.max(1, p.total))}%), `
      + `${Math.round(rate)}/s, elapsed ${formatSeconds(elapsed)}${eta}\n`);
    lastLine = lastUpdate;
    shown = p;
  };
  /** A phase that printed progress says where it ended; a short one stays silent. */
  const finishPhase = (): void => {
    if (last && shown && last !== shown) line(last);
    shown = null;
  };
  return {
    update(p) {
      const t = now();
      if (p.phase !== phase) {
        if (phase !== null) finishPhase();
        phase = p.phase;
        started = lastUpdate;
        lastLine = lastUpdate;
      }
      lastUpdate = t;
      last = p;
      if (t - lastLine >= PROGRESS_LINE_SECONDS * 1000) line(p);
    },
    stop() {
      finishPhase();
      last = null;
      phase = null;
    },
  };
}

/** A progress bar on a terminal (with elapsed time and an estimate of what is left), progress lines in a log. */
async function progressDisplay(enabled: boolean): Promise<ProgressDisplay> {
  if (!enabled) return { update: () => {}, stop: () => {} };
  if (process.stderr.isTTY !== true) return progressLines((line) => process.stderr.write(line));
  const { default: progress } = await import('cli-progress');
  const bar = new progress.SingleBar({
    format: 'fuzz {phase} [{bar}] {value}/{total} {unit} | {rate}/s | elapsed {duration_formatted} | {etaLabel} {eta_formatted}',
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
    fps: 10,
    etaBuffer: 200,
  }, progress.Presets.shades_classic);
  let phase: ProgressUpdate['phase'] | null = null;
  let started = performance.now();
  return {
    update(p) {
      if (p.phase !== phase) {
        if (phase !== null) bar.stop();
        phase = p.phase;
        started = performance.now();
        const words = PHASE_WORDS[p.phase];
        bar.start(p.total, 0, { phase: words.verb, unit: words.unit, rate: 0, etaLabel: p.phase === 'shrink' ? 'left at most' : 'left' });
      }
      const seconds = (performance.now() - started) / 1000;
      bar.update(p.done, { rate: seconds > 0 ? Math.round(p.done / seconds) : 0 });
    },
    stop() {
      if (phase !== null) bar.stop();
      phase = null;
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
  const runs = parseCount(flags.runs, '--runs', 1, 100_000_000);
  const seed = flags.seed !== undefined ? parseSeed(flags.seed) : randomInt(0, 2 ** 31);
  const path = flags.path !== undefined ? parsePath(flags.path, runs) : undefined;
  if (path !== undefined && flags.seed === undefined) throw new InputError('--path needs the --seed it was found with');
  const modes = parseModes(flags.modes);
  const eras = parseEras(flags.zephyr);
  const seedOnly = eras.length === 1 && eras[0] === 'seed';
  const timeoutMs = parseCount(flags.timeout, '--timeout', 1, 24 * 3600 * 1000);
  const shrinkBudget = parseCount(flags.shrinkBudget, '--shrink-budget', 0, 100_000_000);
  const ignoreList = parseKinds(flags.ignore);
  const refusalExit = flags.refusalExit !== undefined ? parseCount(flags.refusalExit, '--refusal-exit', 1, 255) : undefined;
  if (flags.compat && flags.generator !== undefined) throw new InputError('--compat applies to the in-process generator; give the external command its own options instead');
  if (!(ENGINE_NAMES as readonly string[]).includes(flags.engine)) throw new InputError(`--engine: unknown engine '${flags.engine}' (choose from ${ENGINE_NAMES.join(', ')})`);
  const { chunkSize, dealChunks, defaultWorkers, serveChunks, spawnChunkWorker } = await import('../fuzz/workers.js');
  const workers = flags.workers !== undefined ? parseCount(flags.workers, '--workers', 1, 1024) : defaultWorkers();
  // No more judges than chunks to deal; a replay (--path) is one case.
  const judges = path !== undefined || flags.chunkWorker ? 1 : Math.min(workers, Math.ceil(runs / chunkSize(runs, workers)));

  const { inProcessGenerator, commandGenerator, checkGeneratorRuns } = await import('../fuzz/generators.js');
  const { runCampaign, chunkJudge, campaignFromChunks, shardSize } = await import('../fuzz/campaign.js');
  const { campaignSummary, counterexampleReport, saveCounterexample } = await import('../fuzz/report.js');
  const { loadEngine } = await import('../engines/index.js');

  // Checked before the campaign, not after an hour of it.
  if (flags.save !== undefined) ensureDirectory(flags.save);
  const workDir = flags.generator !== undefined ? mkdtempSync(join(tmpdir(), 'x86pt-fuzz-')) : undefined;
  const forgetWorkDir = workDir !== undefined ? registerTemp(workDir) : undefined;
  const engine = await loadEngine(flags.engine);
  const bar = await progressDisplay(flags.progress);
  // Ctrl-C ends the search after the case at hand; the summary still comes (exit 130), and a second
  // Ctrl-C ends the process through the cleanup registry, which removes every temporary file first.
  const stop = new AbortController();
  const interrupt = (): boolean => {
    if (stop.signal.aborted) return false;
    stop.abort();
    return true;
  };
  return withInterruptHandler(interrupt, async () => {
    try {
      const generator = flags.generator !== undefined
        ? commandGenerator(flags.generator, { timeoutMs, workDir: workDir! })
        : inProcessGenerator({ compat: flags.compat ?? false });
      // A command that cannot serve the simplest layout is a wrong command line, found in one run.
      if (flags.generator !== undefined) await checkGeneratorRuns(generator, eras[0]!, modes[0]!);
      const settings = {
        seed, modes, engine: flags.engine, ignore: ignoreList, determinism: flags.determinism,
        ...(seedOnly ? {} : { eras }),
        ...(flags.generator !== undefined ? { generator: flags.generator, timeoutMs } : {}),
        ...(flags.compat ? { compat: true } : {}),
        ...(refusalExit !== undefined ? { refusalExit } : {}),
      };
      const options = {
        modes, eras, runs, seed, shrinkBudget, generator, engine, determinism: flags.determinism, ignore: new Set(ignoreList), stop: stop.signal,
        ...(path !== undefined ? { path } : {}),
        ...(refusalExit !== undefined ? { refusalExit } : {}),
        ...(shard !== undefined ? { shard } : {}),
      };
      if (flags.chunkWorker) {
        await serveChunks(chunkJudge(options));
        return EXIT_OK;
      }
      const hooks = { onProgress: (p: ProgressUpdate) => bar.update(p) };
      let result;
      if (judges > 1) {
        const started = performance.now();
        const at = process.argv.indexOf('fuzz');
        const chunks = await dealChunks({
          runs, judges, judge: chunkJudge(options), stop: stop.signal,
          spawnChild: () => spawnChunkWorker(process.argv[1]!, process.argv.slice(at + 1)),
          onProgress: (done) => bar.update({ phase: 'search', done, total: shardSize(options) }),
        });
        result = { ...(await campaignFromChunks(options, chunks, started, hooks)), workers: judges };
      } else {
        result = await runCampaign(options, hooks);
      }
      bar.stop();
      if (flags.report !== undefined) {
        const { writeFileAtomic } = await import('../core/io.js');
        await writeFileAtomic(flags.report, `${JSON.stringify(shardReport(result, { runs, modes, engine: flags.engine, ...(shard ? { shard } : {}) }), null, 2)}\n`);
      }
      process.stdout.write(campaignSummary(result, settings, generator.description));
      const cx = result.counterexample;
      if (!cx) return result.interrupted ? EXIT_INTERRUPTED : EXIT_OK;
      let saved: string[] = [];
      if (flags.save !== undefined) {
        try {
          saved = await saveCounterexample(flags.save, cx, (paths) => counterexampleReport(cx, settings, paths));
        } catch (err) {
          // The counterexample is not lost with its files: printed first, then the failure to save it.
          process.stdout.write(counterexampleReport(cx, settings, []));
          throw err;
        }
      }
      process.stdout.write(counterexampleReport(cx, settings, saved));
      return EXIT_FAILED;
    } finally {
      bar.stop();
      await closeEngine(engine);
      if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
      forgetWorkDir?.();
    }
  });
}

/** A campaign ended by Ctrl-C without a counterexample: the shell's status for SIGINT. */
const EXIT_INTERRUPTED = 128 + 2;

export function registerFuzzCommand(program: Command): void {
  program
    .command('fuzz')
    .description('fuzz a page-table generator with random kernel layouts: x86pt\'s own, or any command with gen_mmu.py\'s arguments')
    .option('--runs <n>', 'layouts to try', String(DEFAULT_RUNS))
    .option('--workers <n>', 'judges of the campaign in parallel: this process and n - 1 children, dealt chunks of the sequence (default: the cores available); the result is the same for any n')
    .addOption(new Option('--chunk-worker', 'judge the chunks a parent --workers process sends over IPC').hideHelp())
    .option('--shard <K/N>', 'judge only shard K of N of the campaign (every N-th layout of the seed\'s sequence), for a CI matrix')
    .option('--report <file>', 'also write what was found as JSON (for --merge)')
    .option('--merge', 'merge the shard reports given as arguments into one summary and exit status')
    .argument('[reports...]', 'with --merge: the shards\' --report files')
    .option('--seed <n>', 'seed of the layout sequence (32-bit integer; random when omitted, always printed)')
    .option('--path <path>', 'replay the case a report names (with its --seed and --modes) and keep shrinking it')
    .option('--modes <list>', 'paging modes to draw layouts from, comma-separated', PAGING_MODES.join(','))
    .option('--zephyr <eras>', `the contracts to draw layouts for, comma-separated (${ZEPHYR_ERAS.join(', ')}, or all); an external --generator should be that era's script, with {maps} where its --map arguments go`, 'seed')
    .option('--generator <command>', 'run this command per layout instead of the built-in generator; {kernel} and {output} are replaced by paths, e.g. \'python3 gen_mmu.py -k {kernel} -o {output}\'')
    .option('--timeout <ms>', 'time bound of one run of --generator', String(DEFAULT_TIMEOUT_MS))
    .option('--compat', 'the built-in generator writes gen_mmu.py\'s bytes (reserved bits in PAE PDPTEs: found as violations)')
    .option('--engine <name>', `what observes the translations (${ENGINE_NAMES.join(', ')}); the walker's architectural checks run regardless`, 'walker')
    .option('--save <dir>', 'write the counterexample\'s kernel.elf, tables.bin and report.txt into DIR')
    .option('--ignore <kinds>', 'finding kinds that do not count, comma-separated (they are still tallied)')
    .option('--refusal-exit <code>', 'exit status a refusal must have (x86pt: 2); any non-zero status when omitted')
    .option('--shrink-budget <n>', 'most cases judged while shrinking a counterexample', String(DEFAULT_SHRINK_BUDGET))
    .option('--no-determinism', 'run the generator once per layout instead of twice (skips the same-bytes check)')
    .option('--no-progress', 'no progress on stderr: no bar on a terminal, no progress lines in a log')
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

Exit status: 0 no counterexample, 1 counterexample found (printed shrunk), 2 bad usage
or a --save that cannot be written, 3 internal error, 130 interrupted by Ctrl-C (the
summary is printed; a second Ctrl-C ends at once).`)
    .action(runAction((files: string[], flags: FuzzFlags) => fuzz(flags, files)));
}
