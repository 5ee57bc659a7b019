// Bundles the CLI into one file: loading one module instead of dozens saves
// about 50 ms a run, which matters when a build system calls `x86pt gen` per image.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/src/cli/main.js'],
  outfile: 'dist/x86pt.mjs',
  bundle: true,
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
