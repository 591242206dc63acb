/**
 * A learned model on the wire: the detector's saved model file (.ddm, checksummed) as the MQTT
 * payload of a retained message, so a worker that connects later gets the current model first,
 * with what it is in MQTT v5 user properties. A payload is checked whole (signature, format
 * version, SHA-256) before anything is written; the backbone match is the detector's own check
 * when it loads the file (modelMismatch), so a worker never half-loads a model.
 */
import { open, readFile, type FileHandle } from "node:fs/promises";
import { DefectError, describeError } from "../errors";
import { isRecord } from "../message";
import { parseModelFile, writeFileAtomic } from "../persist";
import { errnoCode } from "../source/read-file";

export const MODEL_FORMAT = "defect-model";
export const MODEL_WIRE_VERSION = 1;

const KEYS = { format: "dd-format", created: "dd-created", method: "dd-method", sha256: "dd-sha256", backbone: "dd-backbone" } as const;
const SHA256_BYTES = 32;

/** What a shared model is, as publisher and workers name it. */
export interface ModelShare {
  /** The file's own SHA-256 (its last 32 bytes): the version every worker answers with. */
  sha256: string;
  /** ISO time of the fit that made it. */
  created: string;
  method: string;
  /** SHA-256 of the backbone it was learned with ("" for methods without one). */
  backbone: string;
}

export interface ModelShareFields {
  payload: Buffer;
  contentType: string;
  userProperties: Record<string, string>;
}

function invalid(reason: string): DefectError {
  return new DefectError("modelFileInvalid", `the shared model is not usable: ${reason}`, { path: "shared model", reason });
}

/** Reads and checks a model file's bytes; what it is, or modelFileInvalid / modelFileVersion. */
export async function describeModelFile(bytes: Buffer, name: string): Promise<ModelShare> {
  const file = await parseModelFile(bytes, name);
  const { created, method, backbone } = file.metadata;
  if (typeof created !== "string" || typeof method !== "string") throw invalid("the file does not say when and how it was learned");
  return {
    sha256: bytes.subarray(bytes.length - SHA256_BYTES).toString("hex"),
    created,
    method,
    backbone: isRecord(backbone) && typeof backbone["sha256"] === "string" ? backbone["sha256"] : "",
  };
}

/** The MQTT fields of a model file: publish them retained, QoS 1. */
export async function encodeModelShare(bytes: Buffer): Promise<{ share: ModelShare; fields: ModelShareFields }> {
  const share = await describeModelFile(bytes, "the saved model");
  return {
    share,
    fields: {
      payload: bytes,
      contentType: "application/octet-stream",
      userProperties: {
        [KEYS.format]: `${MODEL_FORMAT}/${MODEL_WIRE_VERSION}`,
        [KEYS.created]: share.created,
        [KEYS.method]: share.method,
        [KEYS.sha256]: share.sha256,
        [KEYS.backbone]: share.backbone,
      },
    },
  };
}

/**
 * A model from what `mqtt in` delivers. The payload must be the whole file, its checksum right
 * and, when the properties name one, the version (SHA-256) they announce: a payload cut short
 * or changed on the way is refused here, before the worker's file is touched.
 */
export async function decodeModelShare(payload: unknown, userProperties: unknown): Promise<{ share: ModelShare; bytes: Buffer }> {
  if (isRecord(userProperties) && userProperties[KEYS.format] !== undefined && userProperties[KEYS.format] !== `${MODEL_FORMAT}/${MODEL_WIRE_VERSION}`) {
    throw new DefectError("wireVersion", `model message format ${String(userProperties[KEYS.format])} is not read by this package`, {
      format: MODEL_FORMAT,
      version: String(userProperties[KEYS.format]),
      supported: MODEL_WIRE_VERSION,
    });
  }
  if (!Buffer.isBuffer(payload) || payload.length === 0) throw invalid("the payload must be the model file's bytes as a Buffer");
  const share = await describeModelFile(payload, "the shared model");
  const announced = isRecord(userProperties) ? userProperties[KEYS.sha256] : undefined;
  if (typeof announced === "string" && announced !== share.sha256) {
    throw invalid(`it announces version ${announced.slice(0, 12)} but holds ${share.sha256.slice(0, 12)}`);
  }
  return { share, bytes: payload };
}

/** The version (SHA-256) of the model file saved at `path`: its last 32 bytes; undefined when there is none. */
export async function savedModelVersion(path: string): Promise<string | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, "r");
    const { size } = await handle.stat();
    if (size < SHA256_BYTES) return undefined;
    const tail = Buffer.alloc(SHA256_BYTES);
    await handle.read(tail, 0, SHA256_BYTES, size - SHA256_BYTES);
    return tail.toString("hex");
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** The saved model file's bytes, or fileNotFound / fileReadFailed. */
export async function readSavedModel(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") throw new DefectError("fileNotFound", `no model saved at ${path} yet: learn good images first`, { path });
    throw new DefectError("fileReadFailed", `Could not read ${path}: ${describeError(error)}`, { path, reason: errnoCode(error) ?? describeError(error) });
  }
}

/** Writes a received model where the detector's reload takes it (`<id>.incoming.ddm`), atomically. */
export async function writeIncomingModel(path: string, bytes: Buffer): Promise<void> {
  await writeFileAtomic(path, [bytes]);
}
