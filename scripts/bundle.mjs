// Bundles the CLI: one module to load instead of dozens saves tens of milliseconds a
// run, which matters when a build system calls `x86pt gen` for every image. Each
// command's code is a chunk of its own (dist/chunks/), loaded only when that command runs.
import { build } from 'esbuild';

await build({
  entryPoints: { x86pt: 'dist/src/cli/main.js' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // koffi loads a native addon; it stays a normal dependency.
  external: ['koffi'],
  // Bundled CommonJS dependencies call require() for Node's built-ins.
  banner: { js: "import { createRequire as x86ptCreateRequire } from 'node:module'; const require = x86ptCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
