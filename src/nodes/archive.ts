/**
 * defect-archive: keeps NG and UNCERTAIN parts, a sample of OK parts and the parts an operator
 * confirmed, with their result record and overlay, in a folder in MVTec AD layout that
 * `defect-detection eval` and the detector's training folder read. Every message is passed on
 * unchanged before the part is written, so the node can sit inline before an alarm or a PLC.
 * The filing, the bounds and the disk work are in src/lib/archive.
 */
import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  Archive,
  ArchiveFiler,
  BYTES_PER_MB,
  parseArchiveOptions,
  PLACES,
  type ArchiveOptions,
  type ConfirmedPart,
  type Filing,
  type InspectedPart,
} from "../lib/archive";
import { DefectError } from "../lib/errors";
import {
  detectorAnswerOf,
  findMessageImage,
  isControlAnswer,
  isRecord,
  readConfirm,
  readIdentifier,
  readOverlay,
  readTransform,
  readVerdictRecord,
  VERDICTS,
} from "../lib/message";
import type { ArchiveNodeDef } from "./archive-def";
import { createErrorRouter } from "./shared/errors";
import { handleInput, rejectInput } from "./shared/input";
import { baseDirectory } from "./shared/settings";
import { createStatus, type StatusLook } from "./shared/status";

const TYPE = "defect-archive";
/** Writes change the counts with every part: the editor gets them at most this often. */
const STATUS_REFRESH_MS = 1000;
/** Entries past the age bound go at each write, and at least this often on a quiet line. */
const AGE_CHECK_MS = 60 * 60 * 1000;
/** Parts waiting for the disk; beyond it a part is not archived (queueFull), so a slow disk cannot fill memory. */
const MAX_PENDING = 32;

const STATES = {
  loading: { fill: "grey", shape: "ring" },
  ready: { fill: "green", shape: "dot" },
  lowSpace: { fill: "yellow", shape: "ring" },
  error: { fill: "red", shape: "ring" },
} as const satisfies Record<string, StatusLook>;

type Job = { kind: "inspected"; part: InspectedPart } | { kind: "confirmed"; part: ConfirmedPart };

const megabytes = (bytes: number): string => (bytes / BYTES_PER_MB).toFixed(1);

/** The original image's bytes: msg.image.buffer, else a Buffer msg.payload. */
function messageImage(msg: NodeMessageInFlow): Buffer | undefined {
  const found = findMessageImage(msg)?.buffer;
  return found ?? (Buffer.isBuffer(msg.payload) && msg.payload.length > 0 ? msg.payload : undefined);
}

/** The detector's answer to a confirmation (msg.confirm removed), as a confirmation without a region. */
function detectorAnswer(payload: unknown): ConfirmedPart | undefined {
  if (!isRecord(payload)) return undefined;
  const verdict = VERDICTS.find((v) => v === payload["confirmed"]);
  const partId = readIdentifier(payload["partId"], "payload.partId");
  if (verdict === undefined || partId === undefined) return undefined;
  return { verdict, region: undefined, partId, image: undefined, transform: undefined };
}

/** What to do with a message, read now: the message travels on before the disk is touched. */
function readJob(msg: NodeMessageInFlow): Job | undefined {
  const confirm = readConfirm(msg);
  if (confirm !== undefined) {
    const partId = readIdentifier(msg["partId"], "partId") ?? null;
    return { kind: "confirmed", part: { ...confirm, partId, image: messageImage(msg), transform: readTransform(msg) } };
  }
  if (isControlAnswer(msg.payload)) {
    // Through a threshold that calibrated again from a confirmed defect's answer, the detector's is in msg.detection.
    const answer = detectorAnswer(detectorAnswerOf(msg).answer);
    return answer === undefined ? undefined : { kind: "confirmed", part: answer };
  }
  const verdict = readVerdictRecord(msg);
  if (verdict === undefined) {
    throw new DefectError("noVerdictInput", "the message has no msg.result with a verdict: wire the archive after a threshold node", {
      reason: "no msg.result",
    });
  }
  const image = messageImage(msg);
  if (image === undefined) throw new DefectError("noImageInput", "the verdict has no image: msg.image.buffer or a Buffer msg.payload", {});
  // A copy of the record as it is now: nodes after this one may change msg.result.
  const result = JSON.parse(JSON.stringify(verdict.record)) as Record<string, unknown>;
  const partId = verdict.partId ?? readIdentifier(msg["partId"], "partId") ?? null;
  return {
    kind: "inspected",
    part: { verdict: verdict.verdict, resultId: verdict.id, partId, result, image, overlay: readOverlay(msg), transform: readTransform(msg) },
  };
}

export = function register(RED: NodeAPI): void {
  function ArchiveNode(this: Node, config: ArchiveNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, STATES);
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: ArchiveOptions;
    try {
      options = parseArchiveOptions({ ...config });
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    const root = resolve(baseDirectory(RED), options.folder);
    const bounds = { maxCount: options.maxCount, maxBytes: options.maxBytes, maxAgeMs: options.maxAgeMs, minFreeBytes: options.minFreeBytes };
    let closing = false;
    let warnedLowSpace = false;
    let warnedTooLarge = false;
    let shownAt = 0;
    let pendingStatus: NodeJS.Timeout | undefined;
    let ageTimer: NodeJS.Timeout | undefined;

    // train/good at once (a single mkdir, at deploy only): an image source watching it to retrain
    // the detector, deployed in the same flow, finds it there. A failure is reported by the open below.
    try {
      mkdirSync(join(root, PLACES.good.split, PLACES.good.label), { recursive: true });
    } catch {
      // Reported with the folder's reason when the archive opens.
    }
    status.set("loading");
    const opened: Promise<ArchiveFiler> = Archive.open(root, bounds).then(({ archive, scan, removed }) => {
      if (scan.staleTemps + scan.orphans + removed > 0) {
        node.log(RED._(`${TYPE}.log.opened`, { temps: scan.staleTemps, orphans: scan.orphans, removed }));
      }
      return new ArchiveFiler(archive, { okEvery: options.okEvery, rememberParts: options.rememberParts });
    });
    opened.then(
      (filer) => {
        if (closing) return;
        showCounts(filer.archive);
        ageTimer = setInterval(() => {
          filer.archive.removeExpired().then(
            () => showCounts(filer.archive),
            (error: unknown) => errors.report(error, { _msgid: RED.util.generateId(), topic: root }),
          );
        }, AGE_CHECK_MS);
        ageTimer.unref();
      },
      (error: unknown) => {
        if (!closing) errors.report(error, { _msgid: RED.util.generateId(), topic: root });
      },
    );

    function countsText(archive: Archive): string {
      return RED._(`${TYPE}.status.counts`, { count: archive.count, mb: megabytes(archive.bytes) });
    }

    function showCounts(archive: Archive): void {
      if (closing) return;
      const wait = shownAt + STATUS_REFRESH_MS - Date.now();
      if (status.current === "ready" && wait > 0) {
        pendingStatus ??= setTimeout(() => {
          pendingStatus = undefined;
          if (status.current === "ready") showCounts(archive);
        }, wait);
        return;
      }
      shownAt = Date.now();
      status.setText("ready", countsText(archive));
    }

    function report(filing: Filing, archive: Archive): void {
      if (filing.action === "lowSpace") {
        const floor = megabytes(options.minFreeBytes);
        const free = megabytes(filing.freeBytes);
        status.setText("lowSpace", RED._(`${TYPE}.status.lowSpace`, { free, floor }));
        if (!warnedLowSpace) node.warn(RED._(`${TYPE}.warnings.lowSpace`, { folder: root, free, floor }));
        warnedLowSpace = true;
        return;
      }
      if (filing.action === "tooLarge") {
        if (!warnedTooLarge) node.warn(RED._(`${TYPE}.warnings.tooLarge`, { size: megabytes(filing.bytes), max: megabytes(options.maxBytes) }));
        warnedTooLarge = true;
        return;
      }
      // Written (or sampled out) with room on the disk again: the next shortage warns again.
      if (filing.action === "written") warnedLowSpace = false;
      showCounts(archive);
    }

    handleInput(node, errors, async (msg, send) => {
      let job: Job | undefined;
      try {
        job = readJob(msg);
      } finally {
        // Passed on unchanged whatever happens here: the archive must never hold up the line.
        send(msg);
      }
      if (job === undefined) return;
      const filer = await opened;
      if (filer.archive.pending >= MAX_PENDING) {
        throw new DefectError("queueFull", `The archive is ${MAX_PENDING} parts behind the line: this part is not archived`, { size: MAX_PENDING });
      }
      const filing = job.kind === "inspected" ? await filer.inspected(job.part) : await filer.confirmed(job.part);
      report(filing, filer.archive);
    });

    node.on("close", (removed: boolean, done: () => void) => {
      closing = true;
      if (pendingStatus !== undefined) clearTimeout(pendingStatus);
      if (ageTimer !== undefined) clearInterval(ageTimer);
      pendingStatus = undefined;
      ageTimer = undefined;
      if (removed) status.clear();
      // Writes in progress end before the next deploy opens the folder (and counts their files).
      opened
        .then(async (filer) => {
          await filer.archive.settle();
          filer.forget();
        })
        .catch(() => undefined)
        .finally(() => done());
    });
  }

  RED.nodes.registerType(TYPE, ArchiveNode);
};
