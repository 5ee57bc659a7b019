/** Reports of a campaign: the summary, a counterexample, the command that reproduces it, and its files. */
import { join } from 'node:path';
import { ensureDirectory, writeFileAtomic } from '../core/io.js';
import { percent } from '../core/text.js';
import type { PagingMode } from '../verify/model.js';
import type { CampaignResult, CampaignStats, Counterexample } from './campaign.js';
import { describeLayout } from './layout.js';

/** What a campaign was run with, as far as reproducing it needs. */
export interface CampaignSettings {
  readonly seed: number;
  readonly modes: readonly PagingMode[];
  /** The eras layouts were drawn for, when not the seed's alone. */
  readonly eras?: readonly string[];
  readonly generator?: string;
  readonly compat?: boolean;
  readonly engine: string;
  readonly ignore: readonly string[];
  readonly refusalExit?: number;
  readonly timeoutMs?: number;
  readonly determinism: boolean;
}

/** fuzz's default --runs: a reproduce command names --runs only when the case's run lies beyond it (replay needs run < --runs). */
const DEFAULT_RUNS = 1000;

/** Quotes a word for a POSIX shell when it needs it. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The one-line command that replays a case (and keeps shrinking it if it can). */
export function reproduceCommand(settings: CampaignSettings, path: string): string {
  const words = ['x86pt', 'fuzz', '--seed', String(settings.seed), '--path', path, '--modes', settings.modes.join(',')];
  const run = Number(path.split(':')[0]);
  if (run >= DEFAULT_RUNS) words.push('--runs', String(run + 1));
  if (settings.eras !== undefined) words.push('--zephyr', settings.eras.join(','));
  if (settings.generator !== undefined) words.push('--generator', settings.generator);
  if (settings.generator !== undefined && settings.timeoutMs !== undefined) words.push('--timeout', String(settings.timeoutMs));
  if (settings.compat) words.push('--compat');
  if (settings.engine !== 'walker') words.push('--engine', settings.engine);
  if (settings.ignore.length > 0) words.push('--ignore', settings.ignore.join(','));
  if (settings.refusalExit !== undefined) words.push('--refusal-exit', String(settings.refusalExit));
  if (!settings.determinism) words.push('--no-determinism');
  return words.map(shellQuote).join(' ');
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function statsLines(stats: CampaignStats): string[] {
  const modes = (Object.entries(stats.byMode) as [PagingMode, number][]).filter(([, n]) => n > 0).map(([m, n]) => `${m} ${n}`).join(', ');
  const rules = Object.entries(stats.refusedByRule).map(([rule, n]) => `${rule}: ${n}`).join(', ');
  const lines = [
    `  layouts by mode: ${modes || 'none'}`,
    `  the policy accepts ${stats.valid}, refuses ${stats.refused}${rules ? ` (by rule ${rules})` : ''}`,
    `  the generator wrote tables for ${stats.generatorWrote}, refused ${stats.generatorRefused}`,
  ];
  const ignored = Object.entries(stats.ignoredByKind).map(([kind, n]) => `${kind} ${n}`).join(', ');
  if (ignored) lines.push(`  ignored findings: ${ignored}`);
  if (stats.engineFallbacks > 0) {
    lines.push(`  ${plural(stats.engineFallbacks, 'layout')} the engine could not host ${stats.engineFallbacks === 1 ? 'was' : 'were'} judged by the walker alone`);
  }
  lines.push(...hostingLines(stats));
  return lines;
}

/**
 * How much an emulator engine did: the layouts it hosted, those it could
 * not by reason code (each with the first reason seen), and the fraction of
 * pages it probed under which plans. Empty for the walker.
 */
export function hostingLines(stats: CampaignStats): string[] {
  const lines: string[] = [];
  const hosted = stats.engineHosted ?? 0;
  const reasons = Object.entries(stats.unhostedByReason ?? {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const unhosted = reasons.reduce((n, [, count]) => n + count, 0);
  if (hosted + unhosted > 0) {
    const by = reasons.map(([reason, n]) => `${reason}: ${n}`).join(', ');
    lines.push(`  the engine hosted ${hosted} of ${plural(hosted + unhosted, 'layout')} with tables (${percent(hosted, hosted + unhosted)})${by ? `; not hosted by reason ${by}` : ''}`);
    for (const [reason] of reasons) {
      const example = stats.unhostedExample?.[reason];
      if (example) lines.push(`    ${reason}, e.g.: ${example}`);
    }
  }
  const probed = stats.probed;
  if (probed && probed.fullPages > 0) {
    const plans = Object.entries(probed.casesByPlan).sort((a, b) => a[0].localeCompare(b[0]))
      .map(([plan, n]) => `${plan} for ${plural(n, 'layout')}${plan === 'sampled' && probed.seeds.length > 0 ? ` (seed ${[...probed.seeds].sort((a, b) => a - b).join(', ')})` : ''}`).join(', ');
    lines.push(`  pages probed: ${probed.pages} of ${probed.fullPages} (${percent(probed.pages, probed.fullPages)}), plan ${plans}`);
  }
  return lines;
}

/** The summary printed at the end of every campaign. */
export function campaignSummary(result: CampaignResult, settings: CampaignSettings, generator: string): string {
  const seconds = result.searchMs / 1000;
  const rate = seconds > 0 ? Math.round(result.stats.layouts / seconds) : 0;
  const shrinking = result.elapsedMs - result.searchMs > 50 ? `, then ${((result.elapsedMs - result.searchMs) / 1000).toFixed(1)} s shrinking` : '';
  const lines = [
    `x86pt fuzz: ${plural(result.stats.layouts, 'layout')} in ${seconds.toFixed(1)} s (${rate}/s)${shrinking}, seed ${result.seed}, modes ${settings.modes.join(',')}`,
    `  generator: ${generator}; engine: ${settings.engine}; ${plural(result.workers ?? 1, 'worker')}`,
    ...statsLines(result.stats),
  ];
  if (result.interrupted) lines.push('interrupted');
  if (result.replayPassed) lines.push('the replayed case passes: no counterexample');
  else if (!result.counterexample) lines.push('no counterexample');
  return `${lines.join('\n')}\n`;
}

/** A counterexample: what failed, the layout, the evidence, and how to reproduce it. */
export function counterexampleReport(cx: Counterexample, settings: CampaignSettings, saved: readonly string[]): string {
  const shrunk = cx.path === cx.original.path
    ? 'not shrunk further'
    : `shrunk from path ${cx.original.path} in ${plural(cx.shrinks, 'step')} (${plural(cx.shrinkRuns, 'case')} judged)`;
  const lines = [
    `COUNTEREXAMPLE (${cx.finding.kind}): ${cx.finding.summary}`,
    `  seed ${settings.seed}, path ${cx.path}; ${shrunk}`,
    'layout:',
    ...describeLayout(cx.report.layout).map((line) => `  ${line}`),
  ];
  if (cx.finding.details.length > 0) lines.push('evidence:', ...cx.finding.details.map((line) => `  ${line}`));
  const others = cx.report.findings.filter((f) => f !== cx.finding);
  if (others.length > 0) lines.push('also:', ...others.map((f) => `  ${f.kind}: ${f.summary}`));
  const spec = cx.report.spec;
  if (!spec.valid) lines.push('the policy refuses this layout:', ...spec.reasons.map((reason, i) => `  rule ${spec.rules[i]}: ${reason}`));
  lines.push(`reproduce: ${reproduceCommand(settings, cx.path)}`);
  if (saved.length > 0) {
    lines.push(`saved: ${saved.join(' ')}`);
    const kernel = saved.find((f) => f.endsWith('kernel.elf'));
    const tables = saved.find((f) => f.endsWith('tables.bin'));
    if (kernel && tables && cx.report.spec.valid) lines.push(`check: x86pt verify -k ${shellQuote(kernel)} ${shellQuote(tables)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the counterexample's ELF, the tables it got and the report (which
 * `render` makes, given the paths saved); returns the paths.
 */
export async function saveCounterexample(dir: string, cx: Counterexample, render: (saved: readonly string[]) => string): Promise<string[]> {
  ensureDirectory(dir);
  const files: [string, Uint8Array][] = [['kernel.elf', cx.report.elf]];
  if (cx.report.outcome.kind === 'tables') files.push(['tables.bin', cx.report.outcome.bytes]);
  if (cx.report.rerun?.kind === 'tables' && cx.finding.kind === 'nondeterministic') files.push(['tables-rerun.bin', cx.report.rerun.bytes]);
  const paths = [...files.map(([name]) => join(dir, name)), join(dir, 'report.txt')];
  for (const [i, [, data]] of files.entries()) await writeFileAtomic(paths[i]!, data);
  await writeFileAtomic(paths[paths.length - 1]!, render(paths));
  return paths;
}
