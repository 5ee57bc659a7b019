/**
 * A fuzzing campaign: draw layouts from a seed, judge each, stop at the first
 * finding and shrink it to a minimal counterexample of the same kind.
 *
 * Layouts are drawn in chunks (fast-check's run N is the layout at path "N"),
 * then judged one by one; shrinking and replay go through fast-check with the
 * failing path, so `--seed S --path P` reproduces any reported case exactly.
 */
import fc from 'fast-check';
import { DEFAULT_HOSTING_REASON, type Engine, type EngineInput, type EngineOutcome, type PagingMode } from '../verify/model.js';
import { InputError } from '../core/errors.js';
import type { RefusalRule } from '../verify/spec.js';
import { eraLayoutArbitrary, layoutArbitrary, type ReleasedEra } from './arbitraries.js';
import type { ZephyrEra } from '../elf/zephyr-era.js';
import { layoutMode, type FuzzLayout } from './layout.js';
import {
  engineInputOf, evaluateLayout, judgeCase, prepareCase,
  type CaseContext, type CaseReport, type Finding, type FindingKind,
} from './properties.js';

export interface CampaignOptions extends CaseContext {
  readonly modes: readonly PagingMode[];
  /** The contracts layouts are drawn for (default: the seed's); the first is where shrinking leads. */
  readonly eras?: readonly ZephyrEra[];
  /** Layouts to try (the search stops earlier at a finding). */
  readonly runs: number;
  readonly seed: number;
  /** Replay: judge only the case at this fast-check path (and shrink it if it fails). */
  readonly path?: string;
  /** Most cases judged while shrinking; the smallest failing case so far is kept. */
  readonly shrinkBudget: number;
  /** Stops the search after the case at hand (Ctrl-C): the result then says so. */
  readonly stop?: AbortSignal;
  /**
   * Judge only this shard's layouts: those whose index in the seed's
   * sequence is `index` modulo `count` (index from 0). Each layout keeps its
   * path, so a shard's finding replays alone with the same seed.
   */
  readonly shard?: { readonly index: number; readonly count: number };
}

/** What the campaign saw, for the summary. */
export interface CampaignStats {
  /** Layouts judged in the search (not counting shrinking). */
  layouts: number;
  readonly byMode: Record<PagingMode, number>;
  /** Layouts the spec accepts, and how the generator answered them. */
  valid: number;
  /** Layouts the spec refuses, by the rules they break (a layout may break several). */
  refused: number;
  readonly refusedByRule: Partial<Record<RefusalRule, number>>;
  /** How often the generator wrote tables, and refused. */
  generatorWrote: number;
  generatorRefused: number;
  /** Findings of ignored kinds, by kind. */
  readonly ignoredByKind: Partial<Record<FindingKind, number>>;
  /** Cases an emulator engine (not the walker) observed the tables of. */
  engineHosted: number;
  /** Cases the engine could not host; the walker judged them. */
  engineFallbacks: number;
  /** Those cases by the engine's reason code (HostingRefusal), and the first one-line reason seen for each code. */
  readonly unhostedByReason: Record<string, number>;
  readonly unhostedExample: Record<string, string>;
  /** What a probing engine probed of the cases it hosted, summed, by plan (no entry for the walker). */
  readonly probed: ProbedPages;
}

/** Pages a probing engine probed, of how many its full plan would have, and how many cases each plan served. */
export interface ProbedPages {
  pages: number;
  fullPages: number;
  readonly casesByPlan: Record<string, number>;
  /** The seeds the sampled plans drew from. */
  readonly seeds: number[];
}

export interface Counterexample {
  /** The fast-check path of the (shrunk) case: replay with the same seed and modes. */
  readonly path: string;
  readonly report: CaseReport;
  readonly finding: Finding;
  /** The first failing case of the search, before shrinking. */
  readonly original: { readonly path: string; readonly report: CaseReport };
  /** Successful shrink steps, and cases judged while shrinking. */
  readonly shrinks: number;
  readonly shrinkRuns: number;
}

export interface CampaignResult {
  readonly seed: number;
  readonly stats: CampaignStats;
  readonly counterexample?: Counterexample;
  /** Replay only: the case at --path passed. */
  readonly replayPassed?: boolean;
  /** The search was stopped before its last layout. */
  readonly interrupted?: boolean;
  /** Judges that shared the search (--workers; 1 when absent). */
  readonly workers?: number;
  /** Time spent judging drawn layouts, and in all (shrinking included). */
  readonly searchMs: number;
  readonly elapsedMs: number;
}

export interface CampaignProgress {
  readonly phase: 'search' | 'shrink';
  /** Cases judged in this phase, and the phase's bound. */
  readonly done: number;
  readonly total: number;
}

export interface CampaignHooks {
  onProgress?(progress: CampaignProgress): void;
}

/** Layouts per fast-check draw; between chunks the event loop gets a turn (progress bars, signals). */
const CHUNK = 256;
/** Cases handed to a batch engine at once (QEMU packs several into one boot). */
const BATCH = 32;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One boot for the batch; when that boot fails as a whole (the emulator hung
 * or died on one of its cases), each case again in a boot of its own, so the
 * failure is charged to the case that caused it and the others are still hosted.
 */
async function runBatchOrAlone(engine: Engine, inputs: readonly EngineInput[]): Promise<readonly EngineOutcome[]> {
  try {
    return await engine.runBatch!(inputs);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    if (inputs.length === 1) return [{ ok: false, error: err }];
  }
  const outcomes: EngineOutcome[] = [];
  for (const input of inputs) {
    try {
      outcomes.push({ ok: true, report: await engine.run(input) });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      outcomes.push({ ok: false, error: err });
    }
  }
  return outcomes;
}

/**
 * Judges layouts in order, calling `judged` with each report until it returns
 * true. A batch engine gets the accepted cases of up to BATCH layouts at a time.
 */
async function judgeInOrder(layouts: readonly FuzzLayout[], options: CampaignOptions, judged: (report: CaseReport) => boolean): Promise<void> {
  const engine = options.engine;
  if (!engine.runBatch) {
    for (const layout of layouts) {
      if (judged(await evaluateLayout(layout, options))) return;
      // A turn for the event loop between cases: a --workers parent answers its children here.
      await yieldToEventLoop();
    }
    return;
  }
  for (let at = 0; at < layouts.length; at += BATCH) {
    const prepared = [];
    for (const layout of layouts.slice(at, at + BATCH)) prepared.push(await prepareCase(layout, options));
    const inputs = prepared.map(engineInputOf);
    const observed = await runBatchOrAlone(engine, inputs.filter((input): input is EngineInput => input !== null));
    let next = 0;
    for (const [i, p] of prepared.entries()) {
      if (judged(await judgeCase(p, options, inputs[i] ? observed[next++] : undefined))) return;
    }
    await yieldToEventLoop();
  }
}

/** Layouts the campaign (or its shard) judges when nothing is found. */
export function shardSize(options: Pick<CampaignOptions, 'runs' | 'shard'>): number {
  const shard = options.shard;
  return shard ? Math.floor(options.runs / shard.count) + (shard.index < options.runs % shard.count ? 1 : 0) : options.runs;
}


/** Layouts `from` .. `from + count - 1` of the seed's sequence, as fast-check numbers its runs. */
export function drawLayouts<L extends FuzzLayout>(arbitrary: fc.Arbitrary<L>, seed: number, from: number, count: number): L[] {
  const drawn: L[] = [];
  fc.check(fc.property(arbitrary, (layout) => {
    drawn.push(layout);
  }), { seed, path: String(from), numRuns: count });
  return drawn;
}

export function emptyStats(): CampaignStats {
  return {
    layouts: 0, byMode: { '32bit': 0, pae: 0, ia32e: 0 }, valid: 0, refused: 0, refusedByRule: {},
    generatorWrote: 0, generatorRefused: 0, ignoredByKind: {}, engineHosted: 0, engineFallbacks: 0,
    unhostedByReason: {}, unhostedExample: {}, probed: { pages: 0, fullPages: 0, casesByPlan: {}, seeds: [] },
  };
}

/** Counts one unhosted case under its reason, keeping the first reason line of each code. */
export function countUnhosted(stats: CampaignStats, reason: string, message: string, n = 1): void {
  stats.unhostedByReason[reason] = (stats.unhostedByReason[reason] ?? 0) + n;
  stats.unhostedExample[reason] ??= message;
}

/** Adds what an engine probed of one case (or of a shard's cases) into the campaign's tally. */
export function countProbed(into: ProbedPages, from: { pages: number; fullPages: number; casesByPlan: Readonly<Record<string, number>>; seeds: readonly number[] }): void {
  into.pages += from.pages;
  into.fullPages += from.fullPages;
  for (const [plan, n] of Object.entries(from.casesByPlan)) into.casesByPlan[plan] = (into.casesByPlan[plan] ?? 0) + n;
  for (const seed of from.seeds) if (!into.seeds.includes(seed)) into.seeds.push(seed);
}

function countCase(stats: CampaignStats, report: CaseReport): void {
  stats.layouts++;
  stats.byMode[layoutMode(report.layout)]++;
  if (report.spec.valid) stats.valid++;
  else {
    stats.refused++;
    for (const rule of new Set(report.spec.rules)) stats.refusedByRule[rule] = (stats.refusedByRule[rule] ?? 0) + 1;
  }
  if (report.outcome.kind === 'tables') stats.generatorWrote++;
  if (report.outcome.kind === 'refused') stats.generatorRefused++;
  for (const f of report.ignored) stats.ignoredByKind[f.kind] = (stats.ignoredByKind[f.kind] ?? 0) + 1;
  if (report.engineHosted) stats.engineHosted++;
  if (report.engineFallback) {
    stats.engineFallbacks++;
    countUnhosted(stats, report.engineFallbackReason ?? DEFAULT_HOSTING_REASON, report.engineFallback);
  }
  const probe = report.probe;
  if (probe) {
    countProbed(stats.probed, { pages: probe.pagesProbed, fullPages: probe.fullPageCount, casesByPlan: { [probe.plan]: 1 }, seeds: probe.plan === 'sampled' ? [probe.seed] : [] });
  }
}

/**
 * Replays the case at `path` and shrinks it while it keeps failing with a
 * finding of `kind` (any kind when undefined). Returns null when the replayed
 * case passes.
 */
async function shrink(
  options: CampaignOptions, arbitrary: fc.Arbitrary<FuzzLayout>, path: string, kind: FindingKind | undefined, hooks: CampaignHooks,
): Promise<{ path: string; report: CaseReport; finding: Finding; shrinks: number; runs: number } | null> {
  let runs = 0;
  let smallest: { report: CaseReport; finding: Finding } | null = null;
  let wanted = kind;
  // Only a nondeterminism finding needs the second run while shrinking.
  const context: CaseContext = { ...options, determinism: options.determinism && (kind === undefined || kind === 'nondeterministic') };
  const property = fc.asyncProperty(arbitrary, async (layout) => {
    // Out of budget (or stopped): every further candidate "passes", which ends shrinking with the smallest so far.
    if (runs > options.shrinkBudget || options.stop?.aborted) return true;
    runs++;
    hooks.onProgress?.({ phase: 'shrink', done: runs, total: options.shrinkBudget + 1 });
    const report = await evaluateLayout(layout, context);
    const finding = report.findings.find((f) => wanted === undefined || f.kind === wanted);
    if (!finding) return true;
    wanted ??= finding.kind;
    smallest = { report, finding };
    return false;
  });
  const result = await fc.check(property, { seed: options.seed, path, numRuns: 1, endOnFailure: false });
  const found = smallest as { report: CaseReport; finding: Finding } | null;
  if (!result.failed || !found || result.counterexamplePath === null) return null;
  return { path: result.counterexamplePath, ...found, shrinks: result.numShrinks, runs };
}

/** Layouts of the seed (its own arbitrary), of the released eras, or of both. */
function campaignArbitrary(modes: readonly PagingMode[], eras: readonly ZephyrEra[]): fc.Arbitrary<FuzzLayout> {
  const released = eras.filter((e): e is ReleasedEra => e !== 'seed');
  const seed: fc.Arbitrary<FuzzLayout> = layoutArbitrary({ modes });
  if (released.length === 0) return seed;
  const later: fc.Arbitrary<FuzzLayout> = eraLayoutArbitrary({ eras: released, modes });
  if (!eras.includes('seed')) return later;
  return eras[0] === 'seed' ? fc.oneof(seed, later) : fc.oneof(later, seed);
}

/** The first failing case of a search: its fast-check path (its index in the sequence), report and finding. */
interface Failing {
  readonly path: string;
  readonly report: CaseReport;
  readonly finding: Finding;
}

/**
 * Judges layouts `from` .. `from + count - 1` of the seed's sequence (those
 * of the shard, if any), counting into `stats`, up to the first failing one.
 */
async function judgeChunk(
  options: CampaignOptions, arbitrary: fc.Arbitrary<FuzzLayout>, from: number, count: number, stats: CampaignStats, hooks: CampaignHooks,
): Promise<{ failing?: Failing }> {
  const drawn = drawLayouts(arbitrary, options.seed, from, count);
  const shard = options.shard;
  const indices = drawn.map((_, i) => from + i).filter((at) => !shard || at % shard.count === shard.index);
  const layouts = indices.map((at) => drawn[at - from]!);
  let failing: Failing | undefined;
  let next = 0;
  await judgeInOrder(layouts, options, (report) => {
    countCase(stats, report);
    hooks.onProgress?.({ phase: 'search', done: stats.layouts, total: shardSize(options) });
    const finding = report.findings[0];
    if (finding) failing = { path: String(indices[next]), report, finding };
    next++;
    return finding !== undefined || options.stop?.aborted === true;
  });
  return failing ? { failing } : {};
}

/** A search's first failing case, shrunk to a minimal one of the same kind. */
async function shrunkCounterexample(options: CampaignOptions, arbitrary: fc.Arbitrary<FuzzLayout>, failing: Failing, hooks: CampaignHooks): Promise<Counterexample> {
  const { path, report, finding } = failing;
  const original = { path, report };
  const shrunk = await shrink(options, arbitrary, path, finding.kind, hooks);
  return shrunk
    ? { path: shrunk.path, report: shrunk.report, finding: shrunk.finding, original, shrinks: shrunk.shrinks, shrinkRuns: shrunk.runs }
    // The failure did not come back on replay (a flaky generator): report it as found.
    : { path, report, finding, original, shrinks: 0, shrinkRuns: 0 };
}

/** What a worker judged of one chunk of the sequence: its counts, and the index of its first failing case. */
export interface ChunkResult {
  readonly from: number;
  readonly count: number;
  readonly stats: CampaignStats;
  /** The index in the sequence of the first failing case (the chunk's counts stop there), or null. */
  readonly failingIndex: number | null;
  readonly interrupted: boolean;
}

/** A judge of chunks of one campaign's sequence (a worker's side of `--workers`). */
export function chunkJudge(options: CampaignOptions): (from: number, count: number) => Promise<ChunkResult> {
  const arbitrary = campaignArbitrary(options.modes, options.eras ?? ['seed']);
  return async (from, count) => {
    const stats = emptyStats();
    const { failing } = await judgeChunk(options, arbitrary, from, count, stats, {});
    return { from, count, stats, failingIndex: failing ? Number(failing.path) : null, interrupted: options.stop?.aborted === true };
  };
}

/**
 * The campaign's result from chunks judged elsewhere (in any order): the
 * counts of every chunk up to the one holding the lowest failing index, as
 * one process that stops there counts them, and that case replayed here and
 * shrunk. The same seed gives the same result however the chunks were dealt.
 */
export async function campaignFromChunks(options: CampaignOptions, chunks: readonly ChunkResult[], started: number, hooks: CampaignHooks = {}): Promise<CampaignResult> {
  const sorted = [...chunks].sort((a, b) => a.from - b.from);
  const failingAt = sorted.find((c) => c.failingIndex !== null)?.failingIndex ?? null;
  const stats = emptyStats();
  for (const chunk of sorted) {
    if (failingAt !== null && chunk.from > failingAt) break;
    addStats(stats, chunk.stats);
  }
  const searchMs = performance.now() - started;
  const interrupted = failingAt === null && (sorted.some((c) => c.interrupted) || options.stop?.aborted === true);
  const finish = (extra: Partial<CampaignResult>): CampaignResult => ({ seed: options.seed, stats, searchMs, elapsedMs: performance.now() - started, ...extra });
  if (failingAt === null) return finish(interrupted ? { interrupted } : {});
  const arbitrary = campaignArbitrary(options.modes, options.eras ?? ['seed']);
  const path = String(failingAt);
  // The failing case again, as the search saw it, then shrunk as one process shrinks it.
  const replay = await judgeChunk({ ...options, shard: undefined, stop: undefined }, arbitrary, failingAt, 1, emptyStats(), {});
  if (!replay.failing) {
    throw new Error(`fuzz: the case at path ${path} failed in a worker but passes when judged again (a nondeterministic generator or engine)`);
  }
  return finish({ counterexample: await shrunkCounterexample(options, arbitrary, { ...replay.failing, path }, hooks) });
}

/** Adds one tally into another (every count summed; the first example of each reason kept). */
export function addStats(into: CampaignStats, from: CampaignStats): void {
  into.layouts += from.layouts;
  into.valid += from.valid;
  into.refused += from.refused;
  into.generatorWrote += from.generatorWrote;
  into.generatorRefused += from.generatorRefused;
  into.engineFallbacks += from.engineFallbacks;
  into.engineHosted += from.engineHosted ?? 0;
  addCounts(into.byMode, from.byMode);
  addCounts(into.refusedByRule, from.refusedByRule);
  addCounts(into.ignoredByKind, from.ignoredByKind);
  // Reports written before reasons and probe plans were counted have neither.
  for (const [reason, n] of Object.entries(from.unhostedByReason ?? {})) countUnhosted(into, reason, from.unhostedExample?.[reason] ?? '', n);
  if (from.probed) countProbed(into.probed, from.probed);
}

function addCounts<T extends Record<string, number>>(into: Partial<T>, from: Partial<T>): void {
  for (const [key, value] of Object.entries(from)) (into as Record<string, number>)[key] = ((into as Record<string, number>)[key] ?? 0) + (value as number);
}

/** Runs a campaign (or, with `path`, replays one case). */
export async function runCampaign(options: CampaignOptions, hooks: CampaignHooks = {}): Promise<CampaignResult> {
  const started = performance.now();
  const arbitrary = campaignArbitrary(options.modes, options.eras ?? ['seed']);
  const stats = emptyStats();
  let searchMs: number | undefined;
  const finish = (extra: Partial<CampaignResult> = {}): CampaignResult => {
    const elapsedMs = performance.now() - started;
    return { seed: options.seed, stats, searchMs: searchMs ?? elapsedMs, elapsedMs, ...extra };
  };

  if (options.path !== undefined) {
    const shrunk = await shrink(options, arbitrary, options.path, undefined, hooks);
    if (!shrunk) return finish({ replayPassed: true });
    countCase(stats, shrunk.report);
    const original = { path: options.path, report: shrunk.report };
    return finish({ counterexample: { path: shrunk.path, report: shrunk.report, finding: shrunk.finding, original, shrinks: shrunk.shrinks, shrinkRuns: shrunk.runs } });
  }

  for (let from = 0; from < options.runs; from += CHUNK) {
    const judged = await judgeChunk(options, arbitrary, from, Math.min(CHUNK, options.runs - from), stats, hooks);
    if (judged.failing) {
      searchMs = performance.now() - started;
      return finish({ counterexample: await shrunkCounterexample(options, arbitrary, judged.failing, hooks) });
    }
    await yieldToEventLoop();
    if (options.stop?.aborted) return finish({ interrupted: true });
  }
  return finish();
}
