/**
 * Rebuilding the archive's index from its folder at deploy: every image the archive named under
 * train/good and test/<label>, with its sidecars. Temporary files whose writer is gone (a kill
 * during a write) and sidecars whose image is missing (a kill between the sidecar and the image,
 * or during a removal) are deleted; files the archive did not name are left alone and not counted.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { isStaleTempFile } from "../persist";
import type { ArchiveEntry, StoredFile } from "./entries";
import {
  GROUND_TRUTH_FOLDER,
  IMAGE_EXTENSIONS,
  MASK_SUFFIX,
  OVERLAY_SUFFIX,
  parseEntryName,
  RECORD_EXTENSION,
  RECORDS_FOLDER,
  type Place,
  type Split,
} from "./layout";

export interface ScanReport {
  entries: ArchiveEntry[];
  /** Temporary files of killed writes, deleted. */
  staleTemps: number;
  /** Sidecars and masks without their image, deleted. */
  orphans: number;
}

const SPLITS: readonly Split[] = ["train", "test"];
const STAT_BATCH = 64;

async function subfolders(folder: string): Promise<string[]> {
  const found = await readdir(folder, { withFileTypes: true }).catch(() => []);
  return found.filter((d) => d.isDirectory()).map((d) => d.name);
}

/** The plain files of a folder, stale temporary files deleted on the way. */
async function filesIn(folder: string, report: { staleTemps: number }): Promise<string[]> {
  const found = await readdir(folder, { withFileTypes: true }).catch(() => []);
  const names: string[] = [];
  for (const d of found) {
    if (!d.isFile()) continue;
    if (isStaleTempFile(folder, d.name)) {
      await rm(join(folder, d.name), { force: true });
      report.staleTemps++;
    } else {
      names.push(d.name);
    }
  }
  return names;
}

async function sizes(paths: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let i = 0; i < paths.length; i += STAT_BATCH) {
    const batch = paths.slice(i, i + STAT_BATCH);
    const stats = await Promise.all(batch.map((p) => stat(p).catch(() => undefined)));
    batch.forEach((p, j) => {
      const s = stats[j];
      if (s !== undefined) out.set(p, s.size);
    });
  }
  return out;
}

const isImage = (name: string): boolean => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase());

interface Sidecar {
  stem: string;
  kind: "record" | "overlay" | "mask";
  path: string;
}

/** A sidecar's entry name and kind, from its file name; undefined for a file the archive did not name. */
function sidecarOf(folder: string, name: string, inGroundTruth: boolean): Sidecar | undefined {
  const path = join(folder, name);
  if (inGroundTruth) {
    if (!name.endsWith(MASK_SUFFIX)) return undefined;
    const stem = name.slice(0, -MASK_SUFFIX.length);
    return parseEntryName(stem) === undefined ? undefined : { stem, kind: "mask", path };
  }
  if (name.endsWith(RECORD_EXTENSION)) {
    const stem = name.slice(0, -RECORD_EXTENSION.length);
    return parseEntryName(stem) === undefined ? undefined : { stem, kind: "record", path };
  }
  const base = basename(name, extname(name));
  if (!base.endsWith(OVERLAY_SUFFIX)) return undefined;
  const stem = base.slice(0, -OVERLAY_SUFFIX.length);
  return parseEntryName(stem) === undefined ? undefined : { stem, kind: "overlay", path };
}

export async function scanArchive(root: string): Promise<ScanReport> {
  const report = { staleTemps: 0, orphans: 0 };
  const images = new Map<string, { place: Place; stem: string; path: string }>();
  const sidecars: Array<Sidecar & { key: string }> = [];
  for (const split of SPLITS) {
    for (const label of await subfolders(join(root, split))) {
      const folder = join(root, split, label);
      for (const name of await filesIn(folder, report)) {
        if (!isImage(name)) continue;
        const stem = basename(name, extname(name));
        if (parseEntryName(stem) !== undefined) images.set(`${split}/${label}/${stem}`, { place: { split, label }, stem, path: join(folder, name) });
      }
    }
    for (const label of await subfolders(join(root, RECORDS_FOLDER, split))) {
      const folder = join(root, RECORDS_FOLDER, split, label);
      for (const name of await filesIn(folder, report)) {
        const found = sidecarOf(folder, name, false);
        if (found !== undefined) sidecars.push({ ...found, key: `${split}/${label}/${found.stem}` });
      }
    }
  }
  // Masks belong to defects under test/.
  for (const label of await subfolders(join(root, GROUND_TRUTH_FOLDER))) {
    const folder = join(root, GROUND_TRUTH_FOLDER, label);
    for (const name of await filesIn(folder, report)) {
      const found = sidecarOf(folder, name, true);
      if (found !== undefined) sidecars.push({ ...found, key: `test/${label}/${found.stem}` });
    }
  }
  const size = await sizes([...[...images.values()].map((i) => i.path), ...sidecars.map((s) => s.path)]);
  const entries = new Map<string, ArchiveEntry>();
  for (const [key, image] of images) {
    const imageSize = size.get(image.path);
    const parsed = parseEntryName(image.stem);
    if (imageSize === undefined || parsed === undefined) continue;
    entries.set(key, {
      name: image.stem,
      place: image.place,
      time: parsed.time,
      partKey: parsed.partKey,
      image: { path: image.path, bytes: imageSize },
      record: undefined,
      overlay: undefined,
      mask: undefined,
    });
  }
  for (const sidecar of sidecars) {
    const entry = entries.get(sidecar.key);
    const bytes = size.get(sidecar.path);
    if (entry === undefined || bytes === undefined || entry[sidecar.kind] !== undefined) {
      await rm(sidecar.path, { force: true });
      report.orphans++;
      continue;
    }
    const file: StoredFile = { path: sidecar.path, bytes };
    entry[sidecar.kind] = file;
  }
  return { entries: [...entries.values()], ...report };
}
