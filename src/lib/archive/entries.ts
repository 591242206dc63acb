/**
 * The archive's index: every entry it wrote, oldest first, with the bytes of its files, so the
 * bounds are kept without listing the folder at each part. Rebuilt from the folder at deploy
 * (scan.ts), so a restart keeps the accounting right.
 */
import type { Place } from "./layout";

export interface StoredFile {
  path: string;
  bytes: number;
}

export interface ArchiveEntry {
  name: string;
  place: Place;
  /** When it was archived (ms since the epoch), from its name. */
  time: number;
  partKey: string;
  /** The part's image: the file the dataset readers list. Its presence makes the entry. */
  image: StoredFile;
  record: StoredFile | undefined;
  overlay: StoredFile | undefined;
  mask: StoredFile | undefined;
}

export function entryFiles(entry: ArchiveEntry): StoredFile[] {
  return [entry.image, entry.record, entry.overlay, entry.mask].filter((f): f is StoredFile => f !== undefined);
}

export function entryBytes(entry: ArchiveEntry): number {
  return entryFiles(entry).reduce((sum, f) => sum + f.bytes, 0);
}

function before(a: ArchiveEntry, b: ArchiveEntry): boolean {
  return a.time < b.time || (a.time === b.time && a.name < b.name);
}

export class ArchiveIndex {
  /** Oldest first. Entries arrive in time order, so adding is an append but for clock steps. */
  private readonly entries: ArchiveEntry[] = [];
  private readonly names = new Map<string, ArchiveEntry>();
  private readonly parts = new Map<string, ArchiveEntry[]>();
  private total = 0;

  get count(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.total;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  oldest(): ArchiveEntry | undefined {
    return this.entries[0];
  }

  /** Oldest first; a copy. */
  list(): ArchiveEntry[] {
    return [...this.entries];
  }

  /** The newest entry of a part key ("-" names no part). */
  findPart(key: string): ArchiveEntry | undefined {
    if (key === "-") return undefined;
    const list = this.parts.get(key);
    return list?.[list.length - 1];
  }

  add(entry: ArchiveEntry): void {
    let at = this.entries.length;
    while (at > 0 && before(entry, this.entries[at - 1] as ArchiveEntry)) at--;
    this.entries.splice(at, 0, entry);
    this.names.set(entry.name, entry);
    const list = this.parts.get(entry.partKey) ?? [];
    let i = list.length;
    while (i > 0 && before(entry, list[i - 1] as ArchiveEntry)) i--;
    list.splice(i, 0, entry);
    this.parts.set(entry.partKey, list);
    this.total += entryBytes(entry);
  }

  remove(entry: ArchiveEntry): void {
    const at = this.entries.indexOf(entry);
    if (at < 0) return;
    this.entries.splice(at, 1);
    this.names.delete(entry.name);
    const list = (this.parts.get(entry.partKey) ?? []).filter((e) => e !== entry);
    if (list.length === 0) this.parts.delete(entry.partKey);
    else this.parts.set(entry.partKey, list);
    this.total -= entryBytes(entry);
  }
}
