/**
 * Child process of the generator benchmark: prints the peak resident set
 * (KiB) after loading the generator, and, unless told 'baseline', after
 * generating the layout's tables too. The difference is what generating costs.
 */
import { generateTables } from '../../src/generate.js';
import { benchKernelSymbols } from './layouts.js';
import type { PagingModeName } from '../../src/kernel.js';

const [mode, sizeMiB, what] = process.argv.slice(2);
let outputBytes = 0;
if (what !== 'baseline') {
  outputBytes = generateTables(benchKernelSymbols(mode as PagingModeName, BigInt(sizeMiB!))).bytes.length;
}
process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, outputBytes }));
