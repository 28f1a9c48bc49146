// Saving bytes as a file download from the page.
export function downloadBytes(bytes: Uint8Array | string, fileName: string, type = 'application/octet-stream'): void {
  downloadBlob(new Blob([bytes as BlobPart], { type }), fileName);
}

interface DirectoryPickerWindow {
  showDirectoryPicker?: (options?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;
}

/** Whether this browser lets the page write into a folder the user picks (File System Access API). */
export function canPickFolder(): boolean {
  return typeof (globalThis as DirectoryPickerWindow).showDirectoryPicker === 'function';
}

/** Asks the user for a folder to write into; null when they cancel. */
export async function pickFolder(): Promise<FileSystemDirectoryHandle | null> {
  const pick = (globalThis as DirectoryPickerWindow).showDirectoryPicker;
  if (!pick) throw new Error('this browser cannot write into a folder (no File System Access API); download a zip instead');
  try {
    return await pick({ mode: 'readwrite', id: 'adapter-studio-export' });
  } catch (error) {
    if ((error as Error).name === 'AbortError') return null;
    throw error;
  }
}

/**
 * Writes `files` (relative paths) under `folder/` inside `dir`. Each file goes through a writable
 * stream, which the browser commits only on close: an interrupted export leaves no half-written file.
 */
export async function writeIntoFolder(dir: FileSystemDirectoryHandle, folder: string, files: [string, Blob][]): Promise<void> {
  const top = await dir.getDirectoryHandle(folder, { create: true });
  for (const [path, blob] of files) {
    const parts = path.split('/');
    let at = top;
    for (const part of parts.slice(0, -1)) at = await at.getDirectoryHandle(part, { create: true });
    const handle = await at.getFileHandle(parts[parts.length - 1], { create: true });
    const writable = await (handle as FileSystemFileHandle & { createWritable(): Promise<FileSystemWritableFileStream> }).createWritable();
    try {
      await writable.write(blob);
      await writable.close();
    } catch (error) {
      await writable.abort().catch(() => {});
      throw new Error(`writing ${folder}/${path}: ${(error as Error).message}`);
    }
  }
}

/** Downloads a Blob as a file. */
export function downloadBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
