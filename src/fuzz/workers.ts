/**
 * `x86pt fuzz --workers N`: the campaign as N shards run by N child
 * processes (each a whole `x86pt fuzz --shard` with its own engine), merged
 * as `--merge` merges a CI matrix's reports. Layouts are drawn by their index
 * in the seed's sequence, so the shards judge exactly the layouts of one
 * campaign; every shard searches to its own first finding and shrinks it,
 * and the merge keeps the lowest index: the case one process would have
 * stopped at, shrunk from the same path, hence the same counterexample.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeShardReports, readShardReport, type MergedReport, type Shard } from './shards.js';

/** Flags the parent handles itself and does not pass to a worker. */
const PARENT_FLAGS = new Set(['--workers', '--shard', '--report']);

/** The fuzz command's arguments without the parent's flags (and their values). */
export function workerArguments(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = arg.split('=')[0]!;
    if (PARENT_FLAGS.has(name)) {
      if (!arg.includes('=')) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

/**
 * Runs `count` workers, each judging its share of `within` (the whole
 * campaign, or one shard of a CI matrix, split further), and merges them.
 */
export async function runWorkers(cli: string, args: readonly string[], count: number, within: Shard = { index: 0, count: 1 }): Promise<MergedReport> {
  const dir = mkdtempSync(join(tmpdir(), 'x86pt-workers-'));
  try {
    const files = Array.from({ length: count }, (_, j) => join(dir, `shard-${j}.json`));
    const failures: string[] = [];
    await Promise.all(files.map((file, j) => new Promise<void>((resolve) => {
      // Shard j of this process's share: index within.index + within.count * j of within.count * count.
      const shard = `${within.index + within.count * j + 1}/${within.count * count}`;
      const child = spawn(process.execPath, [cli, 'fuzz', ...workerArguments(args), '--shard', shard, '--report', file, '--no-progress'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      child.on('close', (code) => {
        if (code !== 0 && code !== 1) failures.push(`worker ${j + 1} (shard ${shard}) exited ${code}: ${stderr.trim().split('\n')[0] ?? ''}`);
        resolve();
      });
    })));
    if (failures.length) throw new Error(failures.join('; '));
    return mergeShardReports(files.map((file) => ({ ...readShardReport(file), file })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
