/**
 * What the archive keeps of each message, and where: NG and UNCERTAIN parts always, 1 OK part in
 * N, and parts an operator confirmed under their confirmed label (good -> train/good, defect ->
 * test/defect with the region's mask), so the line's own images become the next training set.
 */
import { readFile } from "node:fs/promises";
import { DefectError } from "../errors";
import type { Transform } from "../image/types";
import type { ConfirmVerdict, DefectRegion } from "../message";
import type { Verdict } from "../threshold/types";
import { Archive, RECORD_FORMAT, RECORD_VERSION, type WriteOutcome } from "./archive";
import type { ArchiveEntry } from "./entries";
import { imageExtension, PLACES, type Place } from "./layout";
import { RecentParts } from "./recent-parts";
import { encodedImageSize, encodeMaskPng, rasterizeRegion } from "./region-mask";

export interface InspectedPart {
  verdict: Verdict;
  resultId: number | null;
  partId: string | null;
  /** msg.result, plain JSON. */
  result: Record<string, unknown>;
  image: Buffer;
  overlay: Buffer | undefined;
  transform: Transform | undefined;
}

export interface ConfirmedPart {
  verdict: ConfirmVerdict;
  region: DefectRegion | undefined;
  partId: string | null;
  /** The image when the confirmation carries it (else the part is found by its id). */
  image: Buffer | undefined;
  transform: Transform | undefined;
}

export type Filing =
  | { action: "written"; place: Place; entry: ArchiveEntry; removed: number }
  | { action: "notSampled" }
  | { action: "lowSpace"; freeBytes: number }
  | { action: "tooLarge"; bytes: number };

export interface FilingOptions {
  okEvery: number;
  rememberParts: number;
}

const VERDICT_PLACES: Record<Verdict, Place> = { OK: PLACES.good, NG: PLACES.ng, UNCERTAIN: PLACES.uncertain };
const CONFIRMED_PLACES: Record<ConfirmVerdict, Place> = { good: PLACES.good, defect: PLACES.defect };

/** The image's extension by its bytes; formats the dataset readers do not read are refused. */
export function archivedExtension(image: Buffer): string {
  const extension = imageExtension(image);
  if (extension === undefined) {
    throw new DefectError(
      "unsupportedFormat",
      "The archive keeps PNG, JPEG, TIFF, WebP and BMP images (what the dataset readers read); this image is none of them",
      {
        format: "unknown",
      },
    );
  }
  return extension;
}

function outcome(result: WriteOutcome, place: Place): Filing {
  if (result.written) return { action: "written", place, entry: result.entry, removed: result.removed };
  return result.reason === "lowSpace" ? { action: "lowSpace", freeBytes: result.freeBytes } : { action: "tooLarge", bytes: result.bytes };
}

function confirmNote(part: ConfirmedPart, time: number): Record<string, unknown> {
  return { verdict: part.verdict, region: part.region?.kind ?? null, time: new Date(time).toISOString() };
}

export class ArchiveFiler {
  private okSeen = 0;
  private readonly recent: RecentParts;

  constructor(
    readonly archive: Archive,
    private readonly options: FilingOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.recent = new RecentParts(options.rememberParts);
  }

  private sidecar(
    verdict: Verdict | null,
    partId: string | null,
    result: Record<string, unknown> | null,
    transform: Transform | undefined,
  ): Record<string, unknown> {
    return {
      format: RECORD_FORMAT,
      version: RECORD_VERSION,
      archived: new Date(this.now()).toISOString(),
      verdict,
      partId,
      confirmed: null,
      transform: transform ?? null,
      result,
    };
  }

  /** An inspected part: NG and UNCERTAIN kept, OK sampled (1 in okEvery, the first one included). */
  async inspected(part: InspectedPart): Promise<Filing> {
    const record = this.sidecar(part.verdict, part.partId, part.result, part.transform);
    if (part.verdict === "OK") {
      const n = this.okSeen++;
      if (this.options.okEvery === 0 || n % this.options.okEvery !== 0) {
        // Remembered for a later confirmation; an image the archive cannot file is no error until then.
        const extension = imageExtension(part.image);
        if (part.partId !== null && extension !== undefined) {
          this.recent.remember({
            partId: part.partId,
            image: part.image,
            extension,
            record,
            overlay: part.overlay,
            transform: part.transform,
            resultId: part.resultId,
          });
        }
        return { action: "notSampled" };
      }
    }
    const extension = archivedExtension(part.image);
    const place = VERDICT_PLACES[part.verdict];
    const written = await this.archive.add({
      place,
      image: part.image,
      extension,
      record,
      overlay: part.overlay,
      mask: undefined,
      resultId: part.resultId,
      partId: part.partId,
    });
    return outcome(written, place);
  }

  /**
   * A confirmed part, found in this order: archived already (moved under its label, never
   * copied), remembered since it was inspected, or the image the confirmation carries.
   */
  async confirmed(part: ConfirmedPart): Promise<Filing> {
    const place = CONFIRMED_PLACES[part.verdict];
    const time = this.now();
    // A part inspected just before is found once its own write has ended.
    await this.archive.settle();
    const archived = part.partId === null ? undefined : this.archive.findPart(part.partId);
    if (archived !== undefined) {
      const bytes = part.region === undefined ? undefined : await readFile(archived.image.path);
      const transform = part.transform ?? (await this.archivedTransform(archived));
      const mask = bytes === undefined || part.region === undefined ? undefined : await this.mask(part.region, bytes, transform);
      return outcome(await this.archive.move(archived, place, { confirmed: confirmNote(part, time) }, mask), place);
    }
    const remembered = part.partId === null ? undefined : this.recent.take(part.partId);
    const image = remembered?.image ?? part.image;
    if (image === undefined) {
      const id = part.partId ?? "(none)";
      throw new DefectError("unknownPart", `The archive holds no part ${id} to file as ${part.verdict}, and the confirmation carries no image`, { partId: id });
    }
    const transform = part.transform ?? remembered?.transform;
    const mask = part.region === undefined ? undefined : await this.mask(part.region, image, transform);
    const record = { ...(remembered?.record ?? this.sidecar(null, part.partId, null, transform)), confirmed: confirmNote(part, time) };
    const written = await this.archive.add({
      place,
      image,
      extension: remembered?.extension ?? archivedExtension(image),
      record,
      overlay: remembered?.overlay,
      mask,
      resultId: remembered?.resultId ?? null,
      partId: part.partId,
    });
    return outcome(written, place);
  }

  private async mask(region: DefectRegion, image: Buffer, transform: Transform | undefined): Promise<Buffer> {
    const size = transform?.source ?? (await encodedImageSize(image));
    return encodeMaskPng(rasterizeRegion(region, size, transform), size);
  }

  private async archivedTransform(entry: ArchiveEntry): Promise<Transform | undefined> {
    if (entry.record === undefined) return undefined;
    try {
      const parsed = JSON.parse(await readFile(entry.record.path, "utf8")) as { transform?: Transform | null };
      return parsed.transform ?? undefined;
    } catch {
      return undefined;
    }
  }

  /** Forgets the remembered parts (their images), e.g. when the node closes. */
  forget(): void {
    this.recent.clear();
  }
}
