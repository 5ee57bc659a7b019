import type { BenchRow, BenchSection } from './bench/report.js';

/** Sections by name, loaded lazily so `npm run bench -- gen` runs just one. */
const SECTIONS: Record<string, () => Promise<BenchSection>> = {
  gen: async () => (await import('./bench/gen.js')).default,
  verify: async () => (await import('./bench/verify.js')).default,
  qemu: async () => (await import('./bench/qemu.js')).default,
  unicorn: async () => (await import('./bench/unicorn.js')).default,
  bochs: async () => (await import('./bench/bochs.js')).default,
  fuzz: async () => (await import('./bench/fuzz.js')).default,
};

function formatRow(row: BenchRow): string {
  const verdict = row.ok === undefined ? '' : row.ok ? '  ok' : '  MISSED';
  const target = row.target ? `  (target ${row.target})` : '';
  return `${row.section.padEnd(8)} ${row.name.padEnd(48)} ${row.value.toFixed(row.value < 10 ? 3 : 1).padStart(12)} ${row.unit}${target}${verdict}`;
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : Object.keys(SECTIONS);
  let missed = 0;
  for (const name of names) {
    const load = SECTIONS[name];
    if (!load) {
      process.stderr.write(`bench: unknown section '${name}' (${Object.keys(SECTIONS).join(', ')})\n`);
      process.exitCode = 2;
      return;
    }
    const section = await load();
    await section((row) => {
      if (row.ok === false) missed++;
      process.stdout.write(`${formatRow(row)}\n`);
    });
  }
  process.stdout.write(missed === 0 ? 'bench: every target met\n' : `bench: ${missed} target(s) missed\n`);
  process.exitCode = missed === 0 ? 0 : 1;
}

await main();
