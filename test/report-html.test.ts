import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectBadInput, scratchDir, x86pt } from './support/cli.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { SMALL_LAYOUTS } from './support/verify-kernels.js';
import { mapHtml, violationSpan, type MapPage } from '../src/verify/html.js';
import type { MappedRange, Violation } from '../src/verify/model.js';

const dir = scratchDir('x86pt-html-');

/** Attributes of every SVG <rect> of a class. */
function rects(html: string, cls: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const m of html.matchAll(/<rect class="([^"]*)"([^>]*)\/>/g)) {
    if (!m[1]!.split(' ').includes(cls)) continue;
    out.push(Object.fromEntries([...m[2]!.matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])));
  }
  return out;
}

/** The details the page's script shows, by element key. */
const detailsOf = (html: string): Record<string, { title: string; rows: string[][]; alias?: string[] }> =>
  JSON.parse(/<script type="application\/json" id="x86pt-data">(.*?)<\/script>/s.exec(html)![1]!);

function expectSelfContained(html: string): void {
  expect(html).toMatch(/^<!DOCTYPE html>/);
  // Nothing to fetch: no external script, style, image or font, and a policy that forbids fetching anyway.
  expect(html).not.toMatch(/\b(src|href)\s*=/i);
  expect(html).not.toMatch(/https?:\/\//i);
  expect(html).not.toMatch(/@import|url\((?!#)/i);
  expect(html).toContain(`content="default-src 'none'`);
}

const range = (virt: bigint, phys: bigint, size: bigint, perms: Partial<MappedRange> = {}): MappedRange =>
  ({ virt, phys, size, writable: true, user: false, executable: false, ...perms });

const page = (ranges: MappedRange[], violations: Violation[] = [], mode: 'pae' | 'ia32e' = 'ia32e'): MapPage => ({
  command: 'dump', title: 't', verdict: { status: 'info', text: 'x' }, facts: [],
  columns: [{ title: 'translation', mode, ranges, kernel: null }], marks: [],
  violations: violations.map((violation) => ({ violation, mode })), wx: { ranges: [], denied: false },
});

describe('the address-space map (HTML)', () => {
  it('gives every range a visible height: a 4 KiB page beside 4 GiB, unmapped gaps small whatever their size', () => {
    const html = mapHtml(page([range(0x1000n, 0x1000n, 0x1000n), range(0x100000000n, 0x100000000n, 1n << 32n)]));
    const [small, huge] = rects(html, 'range');
    expect(Number(small!.height)).toBe(16);
    // 2^20 pages: 20 doublings of 5 px above the one-page minimum; linear would make the page 1/2^20 of it.
    expect(Number(huge!.height)).toBe(16 + 5 * 20);
    const gaps = rects(html, 'gap');
    expect(gaps.length).toBeGreaterThan(0);
    for (const gap of gaps) expect(Number(gap.height)).toBe(16);
    // Every boundary labelled with its real address, the non-canonical hole included.
    for (const label of ['0x0000000000001000', '0x0000000000002000', '0x0000000100000000', '0x0000000200000000', '0x0000800000000000', '0xffff800000000000']) {
      expect(html).toContain(`>${label}</text>`);
    }
    expect(html).toContain('≈ non-canonical');
  });

  it('places a violation on the span its entry controls', () => {
    const v = (level: string, path: number[]): Violation => ({ level, path, entryAddr: 0x1000n, message: 'm' });
    expect(violationSpan(v('PDPTE', [3]), 'pae')).toEqual({ virt: 0xc0000000n, size: 1n << 30n });
    expect(violationSpan(v('PML4E', [256]), 'ia32e')).toEqual({ virt: 0xffff800000000000n, size: 1n << 39n });
    expect(violationSpan(v('PTE', [1, 2]), '32bit')).toEqual({ virt: 0x402000n, size: 0x1000n });
    expect(violationSpan(v('PDPTE', [511, 511]), 'ia32e')).toEqual({ virt: 0xffffffffc0000000n, size: 1n << 30n });
    expect(violationSpan(v('CR3', []), 'pae')).toBeNull();
  });

  it('escapes what it shows: names and messages cannot become markup or end the data script', () => {
    const evil = '</script><script>alert(1)</script><b>';
    const html = mapHtml({
      ...page([range(0x1000n, 0x1000n, 0x1000n)], [{ level: 'PDPTE', path: [0], entryAddr: 0x1000n, message: evil }], 'pae'),
      title: evil, facts: [['file', evil]],
    });
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<b>');
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(detailsOf(html)['v0']!.rows.at(-1)).toEqual(['what', evil]);
  });

  const dual = writeKernelFiles(dir, 'pae-dual', SMALL_LAYOUTS['pae-dual-perms']!);

  it('dump --html: self-contained, every range once with its address, aliases linked, regions and windows named', async () => {
    const out = join(dir, 'dump.html');
    const run = await x86pt(['dump', dual.tables, '-k', dual.elf, '--html', out]);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('W+X: none');
    const html = readFileSync(out, 'utf8');
    expectSelfContained(html);
    const json = JSON.parse((await x86pt(['dump', dual.tables, '-k', dual.elf, '--format', 'json'])).stdout) as { ranges: { virt: string; size: string }[] };
    const drawn = rects(html, 'range');
    expect(drawn.map((r) => [r['data-virt'], r['data-end']])).toEqual(json.ranges.map((r) => [r.virt, `0x${(BigInt(r.virt) + BigInt(r.size)).toString(16)}`]));
    const details = detailsOf(html);
    // Identity text 0x100000 and its dual-window alias 0xc0100000 name each other, and nothing else.
    const byVirt = (virt: string) => drawn.find((r) => r['data-virt'] === virt)!['data-key']!;
    expect(details[byVirt('0x100000')]!.alias).toEqual([byVirt('0xc0100000')]);
    expect(details[byVirt('0xc0100000')]!.alias).toEqual([byVirt('0x100000')]);
    expect(rects(html, 'region').map((r) => r['data-region'])).toEqual(['text', 'rodata', 'text', 'rodata']);
    expect(rects(html, 'window').map((r) => r['data-window'])).toEqual(['identity', 'dual window']);
  });

  it('dump --html with --mode/--base: no kernel, so windows from the offsets alone and no regions', async () => {
    const out = join(dir, 'no-kernel.html');
    expect((await x86pt(['dump', dual.tables, '--mode', 'pae', '--base', `0x${dual.tablesPhys.toString(16)}`, '--html', out])).exitCode).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(rects(html, 'range')).toHaveLength(6);
    expect(rects(html, 'region')).toEqual([]);
    expect(rects(html, 'window').map((r) => r['data-window'])).toEqual(['identity', 'offset 0xc0000000']);
  });

  it('verify --html: both sides, a mark per mismatch, the violations; diff --html: a mark per change', async () => {
    const compat = writeKernelFiles(dir, 'pae-compat', SMALL_LAYOUTS['pae-dual-perms']!, { compat: true });
    const out = join(dir, 'verify.html');
    expect((await x86pt(['verify', compat.tables, '-k', compat.elf, '--html', out])).exitCode).toBe(1);
    const html = readFileSync(out, 'utf8');
    expectSelfContained(html);
    expect(html).toMatch(/<div class="verdict fail" id="verdict">FAIL/);
    expect(rects(html, 'mark')).toHaveLength(6);
    expect(rects(html, 'violation')).toHaveLength(2);
    expect(html).toContain('reserved bits 1-2 set');

    const diffOut = join(dir, 'diff.html');
    expect((await x86pt(['diff', dual.tables, compat.tables, '-k', dual.elf, '--html', diffOut])).exitCode).toBe(1);
    const diff = readFileSync(diffOut, 'utf8');
    expectSelfContained(diff);
    expect(rects(diff, 'mark')).toHaveLength(6);
    expect(diff).toContain('class="mark mark-removed"');
  });

  it('bad input writes no map, and an existing one is left untouched', async () => {
    const out = join(dir, 'kept.html');
    writeFileSync(out, 'previous');
    const short = join(dir, 'short.bin');
    writeFileSync(short, new Uint8Array(4096 + 8));
    expectBadInput(await x86pt(['dump', short, '--mode', 'pae', '--base', '0x1000', '--html', out]), /short\.bin/);
    expect(readFileSync(out, 'utf8')).toBe('previous');
    const fresh = join(dir, 'fresh.html');
    expectBadInput(await x86pt(['verify', short, '-k', dual.elf, '--html', fresh]), /short\.bin/);
    expect(existsSync(fresh)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
