/**
 * Exported files as one zip, streamed part by part (fflate's Zip): the weights are stored as they
 * are, text files deflated, and no file is ever concatenated into one buffer — the Blob keeps the
 * chunks. Plain zip, no ZIP64: each file and the whole archive stay under 4 GiB.
 */
import { Zip, ZipDeflate, ZipPassThrough } from 'fflate';
import { ExportError, partsSize, type ExportedFiles } from './types';

const ZIP_LIMIT = 2 ** 32 - 1;
const TEXT = /\.(json|jinja|txt|md|py|sh|yaml|yml)$|(^|\/)Modelfile$/;

/** The files under `folder/` in a zip Blob. */
export function zipExport(files: ExportedFiles, folder: string): Blob {
  const chunks: Uint8Array[] = [];
  let failure: Error | null = null;
  let total = 0;
  const zip = new Zip((error, data) => {
    if (error) failure = error;
    else chunks.push(data);
  });
  for (const [path, parts] of files) {
    const size = partsSize(parts);
    total += size;
    if (size > ZIP_LIMIT || total > ZIP_LIMIT) throw new ExportError(`${path}: the export passes 4 GiB, more than a plain zip holds; save it into a folder instead`);
    const name = folder ? `${folder}/${path}` : path;
    const entry = TEXT.test(path) ? new ZipDeflate(name, { level: 6 }) : new ZipPassThrough(name);
    zip.add(entry);
    if (!parts.length) entry.push(new Uint8Array(0), true);
    parts.forEach((p, i) => entry.push(p, i === parts.length - 1));
  }
  zip.end();
  if (failure) throw failure;
  return new Blob(chunks as BlobPart[], { type: 'application/zip' });
}
