/**
 * Patch features of evaluation images cached on disk, so a sweep over scoring settings does not
 * run the backbone again. One file per image and backbone setting: a 16-byte header
 * (patches, dim, gridHeight, gridWidth as int32) then the float32 rows.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PatchEmbedding } from "../../lib/features/types";

const HEADER_INTS = 4;
const HEX_CHARS = 24;

export interface EmbeddingCache {
  /** Folder of the cache files. */
  dir: string;
  /** Names the backbone setting (model, layers, size): a different key never reuses a file. */
  key: string;
}

function fileFor(cache: EmbeddingCache, imagePath: string): string {
  return join(cache.dir, `${createHash("sha256").update(`${cache.key}\n${imagePath}`).digest("hex").slice(0, HEX_CHARS)}.f32`);
}

export async function cachedEmbedding(cache: EmbeddingCache | undefined, imagePath: string, compute: () => Promise<PatchEmbedding>): Promise<PatchEmbedding> {
  if (cache === undefined) return compute();
  const file = fileFor(cache, imagePath);
  if (existsSync(file)) {
    const bytes = await readFile(file);
    const header = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + HEADER_INTS * 4));
    const [patches, dim, gridHeight, gridWidth] = header as unknown as [number, number, number, number];
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset + HEADER_INTS * 4, bytes.byteOffset + bytes.length));
    if (data.length === patches * dim) return { data, patches, dim, gridHeight, gridWidth };
  }
  const embedding = await compute();
  mkdirSync(cache.dir, { recursive: true });
  const header = Int32Array.from([embedding.patches, embedding.dim, embedding.gridHeight, embedding.gridWidth]);
  // Written aside then renamed: an interrupted run never leaves a truncated file behind.
  await writeFile(
    `${file}.part`,
    Buffer.concat([Buffer.from(header.buffer), Buffer.from(embedding.data.buffer, embedding.data.byteOffset, embedding.data.byteLength)]),
  );
  await rename(`${file}.part`, file);
  return embedding;
}
