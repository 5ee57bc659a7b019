import type { BenchRow, BenchSection } from './bench/report.js';

/** Section names: each is scripts/bench/<name>.ts, loaded lazily so `npm run bench -- gen` runs just one. */
const SECTIONS = ['gen', 'verify', 'qemu', 'unicorn', 'bochs', 'fuzz'] as const;
type SectionName = (typeof SECTIONS)[number];

const isSection = (name: string): name is SectionName => (SECTIONS as readonly string[]).includes(name);

async function loadSection(name: SectionName): Promise<BenchSection> {
  return ((await import(`./bench/${name}.js`)) as { default: BenchSection }).default;
}

function formatRow(row: BenchRow): string {
  const verdict = row.ok === undefined ? '' : row.ok ? '  ok' : '  MISSED';
  const target = row.target ? `  (target ${row.target})` : '';
  return `${row.section.padEnd(8)} ${row.name.padEnd(48)} ${row.value.toFixed(row.value < 10 ? 3 : 1).padStart(12)} ${row.unit}${target}${verdict}`;
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : SECTIONS;
  let missed = 0;
  for (const name of names) {
    if (!isSection(name)) {
      process.stderr.write(`bench: unknown section '${name}' (${SECTIONS.join(', ')})\n`);
      process.exitCode = 2;
      return;
    }
    const section = await loadSection(name);
    await section((row) => {
      if (row.ok === false) missed++;
      process.stdout.write(`${formatRow(row)}\n`);
    });
  }
  process.stdout.write(missed === 0 ? 'bench: every target met\n' : `bench: ${missed} target(s) missed\n`);
  process.exitCode = missed === 0 ? 0 : 1;
}

await main();
