/**
 * The project's layers, read off its imports. Each folder under src/ is one
 * layer; an import may only point down the list of what the layer is allowed
 * to see. The checker is a pure function over import arrows so that a test
 * can show it refusing each kind of forbidden arrow.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';

/** What each layer may import, besides itself. `api` is src/index.ts. */
export const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: [],
  elf: ['core'],
  gen: ['core', 'elf'],
  verify: ['core', 'elf'],
  engines: ['core', 'elf', 'verify'],
  fuzz: ['core', 'elf', 'verify', 'engines'],
  cli: ['core', 'elf', 'gen', 'verify', 'engines', 'fuzz'],
  api: ['core', 'elf', 'gen', 'verify', 'engines'],
};

/** The one file of a layer allowed a further arrow: fuzzing's adapter drives x86pt's own generator. */
export const EXCEPTIONS: readonly { readonly file: string; readonly to: string }[] = [
  { file: 'src/fuzz/generators.ts', to: 'gen' },
];

export interface Arrow {
  /** Importing file, relative to the project root (posix). */
  readonly from: string;
  /** Imported file, likewise. */
  readonly to: string;
}

/** The layer a file under src/ belongs to. */
export function layerOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] !== 'src') throw new Error(`${file} is not under src/`);
  return parts.length === 2 ? 'api' : parts[1]!;
}

/** Every relative import (static and dynamic) of every TypeScript file under src/. */
export function readArrows(root: string): Arrow[] {
  const arrows: Arrow[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const from = relative(root, path).split('\\').join('/');
        const text = readFileSync(path, 'utf8');
        for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
          const to = posix.normalize(posix.join(posix.dirname(from), m[1]!)).replace(/\.js$/, '.ts');
          arrows.push({ from, to });
        }
      }
    }
  };
  walk(join(root, 'src'));
  return arrows;
}

/** One line per forbidden arrow and per folder-level cycle; empty when the layering holds. */
export function layerProblems(arrows: readonly Arrow[]): string[] {
  const problems: string[] = [];
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of arrows) {
    if (!to.startsWith('src/')) {
      problems.push(`${from} imports ${to}, outside src/`);
      continue;
    }
    const a = layerOf(from);
    const b = layerOf(to);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
    const allowed = (ALLOWED[a] ?? []).includes(b) || EXCEPTIONS.some((e) => e.file === from && e.to === b);
    if (!allowed) problems.push(`${from} imports ${to}: layer '${a}' may not import layer '${b}'`);
  }
  // Folder-level cycles, whatever the table allows.
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, path: string[]): void => {
    state.set(node, 'open');
    for (const next of edges.get(node) ?? []) {
      if (state.get(next) === 'open') problems.push(`folder cycle: ${[...path.slice(path.indexOf(next)), node, next].join(' -> ')}`);
      else if (!state.has(next)) visit(next, [...path, node]);
    }
    state.set(node, 'done');
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node, []);
  return problems;
}

export const projectRoot = (): string => join(dirname(new URL(import.meta.url).pathname), '..', '..');
