/**
 * Campaigns split over the jobs of a CI matrix: `--shard K/N` judges every
 * N-th layout of the seed's sequence (from the K-th), `--report FILE` writes
 * what a shard found as JSON, and `--merge` adds the shards' reports into one
 * summary: the counts summed, the counterexample that of the lowest index
 * in the sequence (what one unsplit campaign would have stopped at first).
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../core/errors.js';
import { hostingLines } from './report.js';
import { addStats, emptyStats, type CampaignResult, type CampaignStats } from './campaign.js';

export interface Shard {
  /** From 0. */
  readonly index: number;
  readonly count: number;
}

/** `K/N` with 1 <= K <= N: shard K of N. */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const k = match ? Number(match[1]) : NaN;
  const n = match ? Number(match[2]) : NaN;
  if (!match || !(n >= 1) || !(k >= 1) || k > n || n > 100_000) throw new InputError(`--shard: '${text}' is not K/N with 1 <= K <= N`);
  return { index: k - 1, count: n };
}

/** One shard's findings as its JSON report says them. */
export interface ShardReport {
  readonly format: 'x86pt-fuzz-shard/1';
  readonly seed: number;
  readonly runs: number;
  readonly modes: readonly string[];
  readonly engine: string;
  readonly shard: Shard;
  readonly stats: CampaignStats;
  readonly interrupted: boolean;
  /** The shrunk counterexample: its path, the first failing path before shrinking, and the finding. */
  readonly counterexample: { readonly path: string; readonly originalPath: string; readonly kind: string; readonly message: string } | null;
}

export function shardReport(result: CampaignResult, run: { runs: number; modes: readonly string[]; engine: string; shard?: Shard }): ShardReport {
  const c = result.counterexample;
  return {
    format: 'x86pt-fuzz-shard/1',
    seed: result.seed,
    runs: run.runs,
    modes: run.modes,
    engine: run.engine,
    shard: run.shard ?? { index: 0, count: 1 },
    stats: result.stats,
    interrupted: result.interrupted === true,
    counterexample: c ? { path: c.path, originalPath: c.original.path, kind: c.finding.kind, message: c.finding.summary } : null,
  };
}

export function readShardReport(file: string): ShardReport {
  let parsed: ShardReport;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as ShardReport;
  } catch (err) {
    throw new InputError(`${file}: not a readable fuzz report (${(err as Error).message})`);
  }
  if (parsed?.format !== 'x86pt-fuzz-shard/1') throw new InputError(`${file}: not a fuzz shard report (format x86pt-fuzz-shard/1)`);
  return parsed;
}

export interface MergedReport {
  readonly seed: number;
  readonly runs: number;
  readonly shards: number;
  readonly stats: CampaignStats;
  readonly counterexample: ShardReport['counterexample'];
  /** Shards of the matrix no report was given for. */
  readonly missing: readonly number[];
  readonly interrupted: boolean;
}

const firstIndex = (path: string): number => Number(path.split(':')[0]);

/** The shards' reports as one; InputError when they come from different campaigns or repeat a shard. */
export function mergeShardReports(reports: readonly (ShardReport & { file: string })[]): MergedReport {
  if (reports.length === 0) throw new InputError('--merge needs at least one report');
  const first = reports[0]!;
  const seen = new Set<number>();
  for (const r of reports) {
    if (r.seed !== first.seed || r.runs !== first.runs || r.shard.count !== first.shard.count || r.engine !== first.engine || r.modes.join() !== first.modes.join()) {
      throw new InputError(`${r.file}: from another campaign (seed ${r.seed}, ${r.runs} runs, ${r.shard.count} shards, ${r.engine}, ${r.modes.join()}) than ${first.file}`);
    }
    if (seen.has(r.shard.index)) throw new InputError(`${r.file}: shard ${r.shard.index + 1}/${r.shard.count} given twice`);
    seen.add(r.shard.index);
  }
  const stats: CampaignStats = emptyStats();
  // Shards in their order, so the example kept for each reason is the same whatever order the files came in.
  for (const r of [...reports].sort((x, y) => x.shard.index - y.shard.index)) addStats(stats, r.stats);
  const found = reports.flatMap((r) => (r.counterexample ? [r.counterexample] : [])).sort((a, b) => firstIndex(a.originalPath) - firstIndex(b.originalPath));
  const missing = Array.from({ length: first.shard.count }, (_, i) => i).filter((i) => !seen.has(i));
  return { seed: first.seed, runs: first.runs, shards: first.shard.count, stats, counterexample: found[0] ?? null, missing, interrupted: reports.some((r) => r.interrupted) };
}

/** The merged summary as lines of text. */
export function mergedSummary(m: MergedReport): string {
  const lines = [
    `merged ${m.shards - m.missing.length} of ${m.shards} shards, seed ${m.seed}: ${m.stats.layouts} layouts (${m.stats.valid} accepted, ${m.stats.refused} refused)` +
      (m.stats.engineFallbacks ? `, ${m.stats.engineFallbacks} judged by the walker alone` : ''),
    ...hostingLines(m.stats),
  ];
  if (m.missing.length) lines.push(`missing shards: ${m.missing.map((i) => `${i + 1}/${m.shards}`).join(', ')}`);
  if (m.counterexample) lines.push(`COUNTEREXAMPLE (${m.counterexample.kind}): ${m.counterexample.message}`, `reproduce: x86pt fuzz --seed ${m.seed} --path ${m.counterexample.path} (with the campaign's --modes and --engine)`);
  else lines.push('no counterexample');
  return `${lines.join('\n')}\n`;
}
