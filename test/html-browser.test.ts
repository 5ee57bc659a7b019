/// <reference lib="dom" />
/**
 * The address-space map in a real browser: headless Chromium (Debian's, set
 * up by scripts/setup.sh) driven by playwright-core. Asserts on what the page
 * shows and does, not on its markup: every range drawn at its address, the
 * colour of each permission, a violation shown, alias highlighting on hover,
 * no console error, no network request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { scratchDir, x86pt } from './support/cli.js';
import { writeKernelFiles } from './support/verify-cli.js';
import { SMALL_LAYOUTS } from './support/verify-kernels.js';
import { GOLDEN_LAYOUTS } from './support/golden-layouts.js';
import { PERMISSION_COLOURS, type PermissionKey } from '../src/verify/html.js';

const CHROMIUM = '/usr/bin/chromium';
/** Without these, Chromium on a machine with no network floods refused connections (updates, sync, QUIC probes). */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Screenshots kept after the run (ignored by git). */
const OUTPUT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-output');

const dir = scratchDir('x86pt-browser-');

/** Saves a full-page screenshot of the `what` map in OUTPUT_DIR, says where, and closes the page. */
async function keepScreenshot(page: Page, file: string, what: string): Promise<void> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const shot = join(OUTPUT_DIR, file);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot of the ${what} map: ${shot}`);
  await page.close();
}

interface DumpJson { ranges: { virt: string; phys: string; size: string; writable: boolean; user: boolean; executable: boolean }[] }

/** '#1d4ed8' as the browser reports a computed colour. */
const rgb = (hex: string): string => {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${n >> 16}, ${(n >> 8) & 255}, ${n & 255})`;
};
const permOf = (r: { writable: boolean; executable: boolean; user: boolean }): string =>
  `r${r.writable ? 'w' : '-'}${r.executable ? 'x' : '-'} ${r.user ? 'user' : 'kernel'}`;
const colourOf = (perm: string): string => {
  const [key, who] = perm.split(' ') as [PermissionKey, 'user' | 'kernel'];
  return rgb(PERMISSION_COLOURS[key][who]);
};

describe('the address-space map in headless Chromium', () => {
  let context: BrowserContext;
  let profile: string;
  const requests: string[] = [];
  const consoleProblems: string[] = [];
  const opened = new Set<string>();

  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), 'x86pt-chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, viewport: { width: 1500, height: 1000 },
    });
    context.on('request', (request) => requests.push(request.url()));
    context.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') consoleProblems.push(`${message.type()}: ${message.text()}`);
    });
    context.on('weberror', (error) => consoleProblems.push(`page error: ${error.error().message}`));
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function open(file: string): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const url = pathToFileURL(file).href;
    opened.add(url);
    await page.goto(url);
    return page;
  }

  /** Writes a map with the CLI and opens it; returns the page and the dump's JSON of the same tables. */
  async function dumpMap(name: string, files: { elf: string; tables: string }): Promise<{ page: Page; json: DumpJson }> {
    const html = join(dir, `${name}.html`);
    const run = await x86pt(['dump', files.tables, '-k', files.elf, '--html', html]);
    expect(run.exitCode, run.stderr).toBe(0);
    const json = JSON.parse((await x86pt(['dump', files.tables, '-k', files.elf, '--format', 'json'])).stdout) as DumpJson;
    return { page: await open(html), json };
  }

  const pae = writeKernelFiles(dir, 'pae-dual', SMALL_LAYOUTS['pae-dual-perms']!);

  it('draws every range at its address, each one visible, coloured by its permissions as the legend says', async () => {
    const layouts = [
      writeKernelFiles(dir, 'ia32e-kpti', SMALL_LAYOUTS['ia32e-identity-kpti']!), // r-x/r--/rw- user, rw- kernel
      writeKernelFiles(dir, 'ia32e-high-half', SMALL_LAYOUTS['ia32e-dual-high-half']!), // r-x/r-- kernel (no KPTI)
      writeKernelFiles(dir, '32bit-dual', GOLDEN_LAYOUTS['32bit-dual-perms']!), // rwx kernel
    ];
    const seen = new Map<string, string>();
    for (const [k, files] of layouts.entries()) {
      const { page, json } = await dumpMap(`colours-${k}`, files);
      const drawn = await page.$$eval('svg .range', (els) => els.map((e) => ({
        virt: e.getAttribute('data-virt'), end: e.getAttribute('data-end'), perm: e.getAttribute('data-perm'),
        fill: getComputedStyle(e).fill, height: e.getBoundingClientRect().height,
      })));
      expect(drawn.map((d) => [d.virt, d.end])).toEqual(json.ranges.map((r) => [r.virt, `0x${(BigInt(r.virt) + BigInt(r.size)).toString(16)}`]));
      json.ranges.forEach((r, i) => {
        expect(drawn[i]!.perm).toBe(permOf(r));
        expect(drawn[i]!.fill, `${r.virt} ${permOf(r)}`).toBe(colourOf(permOf(r)));
        // One page is 16 px: never a sliver, whatever else the map holds.
        expect(drawn[i]!.height).toBeGreaterThanOrEqual(15.5);
        seen.set(permOf(r), drawn[i]!.fill);
      });
      // The legend's swatch for each permission is the colour the map uses.
      for (const [perm, fill] of seen) {
        const swatch = await page.$eval(`#legend [data-perm="${perm}"] .sw`, (e) => getComputedStyle(e).backgroundColor);
        expect(swatch, perm).toBe(fill);
      }
      await page.close();
    }
    expect([...seen.keys()].sort()).toEqual(['r-- kernel', 'r-- user', 'r-x kernel', 'r-x user', 'rw- kernel', 'rw- user', 'rwx kernel']);
    // Different permissions, different colours.
    expect(new Set(seen.values()).size).toBe(seen.size);
  });

  it('hovering a range highlights the other views of the same memory and shows its details; leaving clears them', async () => {
    const { page } = await dumpMap('aliases', pae);
    const text = page.locator('svg .range[data-virt="0x100000"]');
    const alias = page.locator('svg .range[data-virt="0xc0100000"]');
    const other = page.locator('svg .range[data-virt="0xc0104000"]');
    await text.hover();
    await expect.poll(() => alias.getAttribute('class')).toMatch(/\balias-hl\b/);
    expect(await text.getAttribute('class')).toMatch(/\bhl\b/);
    expect(await other.getAttribute('class')).not.toMatch(/alias-hl/);
    const details = await page.locator('#details').innerText();
    expect(details).toMatch(/virtual\s+0x00100000-0x00104000/);
    expect(details).toMatch(/same memory as\s+0xc0100000-0xc0104000/);
    expect(details).toMatch(/region\s+text/);
    // The table row of the alias is highlighted too.
    expect(await page.locator('#ranges-0 tr[data-key]').nth(3).getAttribute('class')).toMatch(/alias-hl/);

    await page.mouse.move(5, 5);
    await expect.poll(() => alias.getAttribute('class')).not.toMatch(/alias-hl/);
    // A click pins the details: moving away keeps them.
    await alias.click();
    await page.mouse.move(5, 5);
    expect(await page.locator('#details').innerText()).toMatch(/virtual\s+0xc0100000-0xc0104000/);
    expect(await text.getAttribute('class')).toMatch(/alias-hl/);
    await page.close();
  });

  it('shows a verification failure: the verdict, a mark per mismatch, the violation with its text on hover', async () => {
    const compat = writeKernelFiles(dir, 'pae-compat', SMALL_LAYOUTS['pae-dual-perms']!, { compat: true });
    const html = join(dir, 'verify.html');
    expect((await x86pt(['verify', compat.tables, '-k', compat.elf, '--html', html])).exitCode).toBe(1);
    const json = JSON.parse((await x86pt(['verify', compat.tables, '-k', compat.elf, '--json'])).stdout) as { mismatches: { virt: string }[]; violations: { message: string }[] };
    const page = await open(html);
    expect(await page.locator('#verdict').innerText()).toMatch(/^FAIL: .*6 mismatches, 2 violations/);
    expect(await page.$$eval('svg .mark', (els) => els.map((e) => e.getAttribute('data-virt')))).toEqual(json.mismatches.map((m) => m.virt));
    const bands = page.locator('svg .violation');
    expect(await bands.count()).toBe(json.violations.length);
    expect((await bands.first().boundingBox())!.height).toBeGreaterThan(16);
    await bands.first().hover();
    await expect.poll(() => page.locator('#details').innerText()).toContain(json.violations[0]!.message);
    // The violation's entry controls the first GiB, where the spec's identity ranges are: they light up as related.
    expect(await page.locator('svg .range.related-hl').count()).toBeGreaterThan(0);
    expect(await page.locator('#violations li').count()).toBe(2);

    await keepScreenshot(page, 'html-map-verify.png', 'verify');
  });

  it('diff: before and after side by side, changes marked, the symbol change named', async () => {
    const before = SMALL_LAYOUTS['pae-dual-perms']!;
    const grown = writeKernelFiles(dir, 'pae-grown', { ...before, regions: { ...before.regions, _image_rodata: { start: 0x104000n, size: 0x4000n } } });
    const html = join(dir, 'diff.html');
    expect((await x86pt(['diff', pae.tables, grown.tables, '--old-kernel', pae.elf, '--new-kernel', grown.elf, '--html', html])).exitCode).toBe(1);
    const page = await open(html);
    expect(await page.locator('svg .col-title').allTextContents()).toEqual([expect.stringMatching(/^old: /), expect.stringMatching(/^new: /), 'changes']);
    expect(await page.locator('svg .range[data-col="0"]').count()).toBe(6);
    expect(await page.locator('svg .range[data-col="1"]').count()).toBe(6);
    const marks = page.locator('svg .mark');
    expect(await marks.evaluateAll((els) => els.map((e) => [e.getAttribute('data-virt'), e.getAttribute('class')]))).toEqual([
      ['0x106000', 'mark mark-changed'], ['0xc0106000', 'mark mark-changed'],
    ]);
    // Old and new at the same height: one scale for both sides.
    // Old rodata 0x104000-0x106000 grew to 0x108000: both start at the same y; the new one ends where the old RAM range starts.
    // (The element's own geometry: Playwright's boxes include the outline a changed range gets.)
    const box = (selector: string) => page.locator(selector).evaluate((e) => {
      const r = e.getBoundingClientRect();
      return { y: r.y, height: r.height };
    });
    const oldRodata = await box('svg .range[data-col="0"][data-virt="0x104000"]');
    const newRodata = await box('svg .range[data-col="1"][data-virt="0x104000"]');
    const oldRam = await box('svg .range[data-col="0"][data-virt="0x106000"]');
    expect(newRodata.y).toBe(oldRodata.y);
    expect(newRodata.height).toBeGreaterThan(oldRodata.height);
    expect(oldRam.y).toBe(oldRodata.y + oldRodata.height);
    expect(await page.locator('dl.facts').innerText()).toContain('_image_rodata_size 0x2000 -> 0x4000');
    await marks.first().hover();
    await expect.poll(() => page.locator('#details').innerText()).toMatch(/permissions: -> 0x106000 rw- kernel => -> 0x106000 r-- user/);
    await keepScreenshot(page, 'html-map-diff.png', 'diff');
  });

  it('fetched nothing and logged no error on any page', async () => {
    expect(opened.size).toBeGreaterThanOrEqual(5);
    // The only requests are the documents themselves.
    expect(requests.filter((url) => !opened.has(url))).toEqual([]);
    expect(consoleProblems).toEqual([]);

    // The listeners do see a page that fetches something (a port nothing listens on).
    const before = requests.length;
    const probe = await context.newPage();
    await probe.setContent('<img src="http://127.0.0.1:9/probe.png">');
    await expect.poll(() => requests.slice(before)).toContain('http://127.0.0.1:9/probe.png');
    await probe.close();
  });
});
