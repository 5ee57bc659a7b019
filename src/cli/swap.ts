/**
 * `x86pt gen --into zephyr.elf -o new.elf`: freshly generated tables written
 * into a copy of a final image, over the tables in its `pagetables` section.
 * The image stays as linked, so the new tables must have the old ones' size
 * and physical address; anything else would need a new link and is refused.
 */
import { InputError, namingSource } from '../core/errors.js';
import { writeFileAtomic } from '../core/io.js';
import { hex } from '../core/text.js';
import { readElf } from '../elf/reader.js';
import { generateForEra, type EraGenerateOptions } from '../gen/generate.js';
import { readImageTables, TABLES_SECTION } from '../verify/image.js';

/** The image's bytes with `tables` in place of its tables; throws InputError when they would not fit as linked. */
export function swappedImage(imageFile: string, kernelFile: string | undefined, options: EraGenerateOptions): { bytes: Uint8Array; tableBytes: number } {
  const image = readImageTables(imageFile, options.era);
  const source = kernelFile !== undefined ? readElf(kernelFile) : image;
  const sourceName = kernelFile ?? imageFile;
  const generated = namingSource(sourceName, () => generateForEra({ symbols: source.symbols, sizes: source.sizes }, options));
  const where = `${image.tablesName} (z_x86_pagetables_start ${hex(image.tablesVirt)})`;
  if (generated.bytes.length !== image.tables.byteLength) {
    throw new InputError(`${sourceName}: the new tables are ${generated.bytes.length} bytes, but ${where} holds ${image.tables.byteLength}; swapping them would move what the linker placed (relink instead)`);
  }
  if (generated.tablesPhys !== image.tablesPhys) {
    throw new InputError(`${sourceName}: the new tables are made for physical ${hex(generated.tablesPhys)}, but ${where} sits at physical ${hex(image.tablesPhys)}; their entries would point at the wrong tables`);
  }
  const bytes = image.elf.bytes.slice();
  bytes.set(generated.bytes, Number(image.section.offset) + image.padding.byteLength);
  return { bytes, tableBytes: generated.bytes.length };
}

/** Writes the swapped image (atomically); `log` gets a line saying what was replaced. */
export async function writeSwappedImage(imageFile: string, kernelFile: string | undefined, output: string, options: EraGenerateOptions): Promise<void> {
  const { bytes, tableBytes } = swappedImage(imageFile, kernelFile, options);
  await writeFileAtomic(output, bytes);
  options.log?.(`wrote ${output}: ${imageFile} with ${tableBytes} bytes of new tables in its ${TABLES_SECTION} section`);
}
