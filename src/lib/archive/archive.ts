/**
 * The NG archive on disk: adds parts, files confirmed parts under their label, and keeps the
 * folder within its bounds (count, bytes, age; oldest removed first) and above a free-space floor.
 * Every file is written atomically (temporary file + rename) and an entry's image is written last
 * and removed first, so a reader never lists an image that is partly written, and a kill leaves
 * at most sidecars and temporary files that the next open removes. Operations run one at a time,
 * in arrival order, so the in-memory accounting is always that of the folder.
 */
import { mkdir, readFile, rename, rm, statfs as fsStatfs } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DefectError, describeError } from "../errors";
import { writeFileAtomic } from "../persist";
import { errnoCode } from "../source/read-file";
import { ArchiveIndex, entryBytes, entryFiles, type ArchiveEntry, type StoredFile } from "./entries";
import { entryName, imageFolder, maskPath, OVERLAY_SUFFIX, partKey, RECORD_EXTENSION, recordFolder, type Place } from "./layout";
import { scanArchive, type ScanReport } from "./scan";

export interface ArchiveBounds {
  maxCount: number;
  maxBytes: number;
  /** 0: no age limit. */
  maxAgeMs: number;
  minFreeBytes: number;
}

/** fs.statfs's answer, the two fields used; injectable so tests can play a full disk. */
export interface FreeSpace {
  bavail: number | bigint;
  bsize: number | bigint;
}

export interface ArchiveDeps {
  statfs?: (path: string) => Promise<FreeSpace>;
  now?: () => number;
}

export interface NewEntry {
  place: Place;
  image: Buffer;
  /** ".jpg", ".png", ...: the image's own encoding. */
  extension: string;
  /** The sidecar's content (plain JSON). */
  record: Record<string, unknown>;
  overlay: Buffer | undefined;
  /** PNG of the confirmed defect's region. */
  mask: Buffer | undefined;
  resultId: number | null;
  partId: string | null;
}

export type WriteOutcome =
  | { written: true; entry: ArchiveEntry; removed: number }
  | { written: false; reason: "lowSpace"; freeBytes: number }
  | { written: false; reason: "tooLarge"; bytes: number };

export const RECORD_FORMAT = "defect-archive-record";
export const RECORD_VERSION = 1;

function overlayExtension(overlay: Buffer): string {
  return overlay[0] === 0x89 ? ".png" : ".jpg";
}

function recordBytes(record: Record<string, unknown>): Buffer {
  return Buffer.from(`${JSON.stringify(record, null, 1)}\n`);
}

async function write(path: string, bytes: Buffer): Promise<StoredFile> {
  await writeFileAtomic(path, [bytes]);
  return { path, bytes: bytes.length };
}

function writeFailed(path: string, error: unknown): DefectError {
  if (error instanceof DefectError) return error;
  const reason = errnoCode(error) ?? describeError(error);
  return new DefectError("fileWriteFailed", `Could not write ${path}: ${describeError(error)}`, { path, reason }, { cause: error });
}

async function moveFile(from: StoredFile, to: string): Promise<StoredFile> {
  try {
    await mkdir(dirname(to), { recursive: true });
    await rename(from.path, to);
  } catch (error) {
    throw writeFailed(to, error);
  }
  return { path: to, bytes: from.bytes };
}

export class Archive {
  private readonly index = new ArchiveIndex();
  private chain: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private readonly statfs: (path: string) => Promise<FreeSpace>;
  private readonly now: () => number;

  private constructor(
    readonly root: string,
    readonly bounds: ArchiveBounds,
    deps: ArchiveDeps,
  ) {
    this.statfs = deps.statfs ?? ((path) => fsStatfs(path));
    this.now = deps.now ?? Date.now;
  }

  /** Opens (creating) the folder: rebuilds the index, removes leftovers of killed writes, applies the bounds. */
  static async open(root: string, bounds: ArchiveBounds, deps: ArchiveDeps = {}): Promise<{ archive: Archive; scan: ScanReport; removed: number }> {
    try {
      await mkdir(root, { recursive: true });
    } catch (error) {
      throw writeFailed(root, error);
    }
    const archive = new Archive(root, bounds, deps);
    const scan = await scanArchive(root);
    for (const entry of scan.entries) archive.index.add(entry);
    const removed = await archive.makeRoom(0, undefined);
    return { archive, scan, removed };
  }

  get count(): number {
    return this.index.count;
  }

  get bytes(): number {
    return this.index.bytes;
  }

  /** Operations waiting or running. */
  get pending(): number {
    return this.queued;
  }

  /** Oldest first. */
  entries(): ArchiveEntry[] {
    return this.index.list();
  }

  /** The newest entry archived for a part id. */
  findPart(partId: string | null): ArchiveEntry | undefined {
    return this.index.findPart(partKey(partId));
  }

  /** Resolves once every operation queued so far has ended. */
  async settle(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    this.queued++;
    const next = this.chain.then(op, op).finally(() => this.queued--);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async freeBytes(): Promise<number> {
    const space = await this.statfs(this.root);
    return Number(space.bavail) * Number(space.bsize);
  }

  add(entry: NewEntry): Promise<WriteOutcome> {
    return this.run(() => this.addNow(entry));
  }

  /** Files an archived entry under `place` with an updated record (and mask); in place when it is there already. */
  move(entry: ArchiveEntry, place: Place, recordUpdate: Record<string, unknown>, mask: Buffer | undefined): Promise<WriteOutcome> {
    return this.run(() => this.moveNow(entry, place, recordUpdate, mask));
  }

  /** Removes the entries older than the age bound; resolves to how many. */
  removeExpired(): Promise<number> {
    return this.run(() => this.makeRoom(0, undefined));
  }

  private async lowSpace(incoming: number): Promise<WriteOutcome | undefined> {
    if (this.bounds.minFreeBytes <= 0) return undefined;
    const free = await this.freeBytes();
    return free - incoming < this.bounds.minFreeBytes ? { written: false, reason: "lowSpace", freeBytes: free } : undefined;
  }

  /**
   * Removes expired entries, then the oldest until `incoming` more bytes and one more entry (when
   * incoming > 0) fit the bounds. `keep` is never removed (the entry being moved).
   */
  private async makeRoom(incoming: number, keep: ArchiveEntry | undefined): Promise<number> {
    let removed = 0;
    const adding = incoming > 0 && keep === undefined ? 1 : 0;
    const oldestAllowed = this.bounds.maxAgeMs > 0 ? this.now() - this.bounds.maxAgeMs : -Infinity;
    for (const entry of this.index.list()) {
      const expired = entry.time < oldestAllowed;
      const over = this.index.count + adding > this.bounds.maxCount || this.index.bytes + incoming > this.bounds.maxBytes;
      if (!expired && !over) break;
      if (entry === keep) continue;
      await this.removeEntry(entry);
      removed++;
    }
    return removed;
  }

  /** The image goes first: once it is gone no reader lists the entry, whatever remains. */
  private async removeEntry(entry: ArchiveEntry): Promise<void> {
    for (const file of entryFiles(entry)) {
      try {
        await rm(file.path, { force: true });
      } catch (error) {
        throw writeFailed(file.path, error);
      }
    }
    this.index.remove(entry);
  }

  private async addNow(item: NewEntry): Promise<WriteOutcome> {
    const time = this.now();
    const name = entryName(time, item.resultId, item.partId, (n) => this.index.has(n));
    const record = recordBytes(item.record);
    const incoming = item.image.length + record.length + (item.overlay?.length ?? 0) + (item.mask?.length ?? 0);
    if (incoming > this.bounds.maxBytes) return { written: false, reason: "tooLarge", bytes: incoming };
    const low = await this.lowSpace(incoming);
    if (low !== undefined) return low;
    const removed = await this.makeRoom(incoming, undefined);
    const records = recordFolder(this.root, item.place);
    const written: StoredFile[] = [];
    try {
      // Sidecars first, the image last: the image's rename is what makes the entry.
      const mask = item.mask === undefined ? undefined : await write(maskPath(this.root, item.place, name), item.mask);
      if (mask !== undefined) written.push(mask);
      const overlay =
        item.overlay === undefined ? undefined : await write(join(records, `${name}${OVERLAY_SUFFIX}${overlayExtension(item.overlay)}`), item.overlay);
      if (overlay !== undefined) written.push(overlay);
      const recordFile = await write(join(records, `${name}${RECORD_EXTENSION}`), record);
      written.push(recordFile);
      const image = await write(join(imageFolder(this.root, item.place), `${name}${item.extension}`), item.image);
      const entry: ArchiveEntry = { name, place: item.place, time, partKey: partKey(item.partId), image, record: recordFile, overlay, mask };
      this.index.add(entry);
      return { written: true, entry, removed };
    } catch (error) {
      await Promise.all(written.map((f) => rm(f.path, { force: true }).catch(() => undefined)));
      throw error;
    }
  }

  private async readRecord(entry: ArchiveEntry): Promise<Record<string, unknown>> {
    if (entry.record === undefined) return {};
    try {
      const parsed: unknown = JSON.parse(await readFile(entry.record.path, "utf8"));
      return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    } catch {
      // A damaged sidecar does not stop the part from being filed; the new record says what is known.
      return {};
    }
  }

  private async moveNow(entry: ArchiveEntry, place: Place, update: Record<string, unknown>, mask: Buffer | undefined): Promise<WriteOutcome> {
    if (!this.index.has(entry.name))
      throw new DefectError("unknownPart", `The archived part ${entry.name} was removed before it could be filed`, { partId: entry.partKey });
    const record = recordBytes({ ...(await this.readRecord(entry)), ...update });
    const extra = record.length + (mask?.length ?? 0) - (entry.record?.bytes ?? 0) - (entry.mask?.bytes ?? 0);
    if (entryBytes(entry) + extra > this.bounds.maxBytes) return { written: false, reason: "tooLarge", bytes: entryBytes(entry) + extra };
    const low = await this.lowSpace(Math.max(0, extra));
    if (low !== undefined) return low;
    const removed = await this.makeRoom(Math.max(0, extra), entry);
    const same = entry.place.split === place.split && entry.place.label === place.label;
    const records = recordFolder(this.root, place);
    // New sidecars first; then the image moves (the entry is now filed there); then the old sidecars go.
    const recordFile = await write(join(records, `${entry.name}${RECORD_EXTENSION}`), record);
    const newMask = mask === undefined ? undefined : await write(maskPath(this.root, place, entry.name), mask);
    const image = same
      ? entry.image
      : await moveFile(entry.image, join(imageFolder(this.root, place), `${entry.name}${entry.image.path.slice(entry.image.path.lastIndexOf("."))}`));
    this.index.remove(entry);
    const moved: ArchiveEntry = { ...entry, place, image, record: recordFile, mask: newMask ?? (same ? entry.mask : undefined), overlay: entry.overlay };
    // Accounted before the old files go, so a failure below leaves at worst orphans the next open removes.
    this.index.add(moved);
    if (!same) {
      if (entry.overlay !== undefined) {
        const ext = entry.overlay.path.slice(entry.overlay.path.lastIndexOf("."));
        moved.overlay = await moveFile(entry.overlay, join(records, `${entry.name}${OVERLAY_SUFFIX}${ext}`));
      }
      if (entry.record !== undefined) await rm(entry.record.path, { force: true });
      if (entry.mask !== undefined && newMask === undefined) await rm(entry.mask.path, { force: true });
    }
    return { written: true, entry: moved, removed };
  }
}
