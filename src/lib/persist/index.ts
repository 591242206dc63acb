/** Saving learned models: an atomic write and a small versioned, checksummed binary format. */
export { isStaleTempFile, TEMP_SUFFIX, tempPathFor, writeFileAtomic, type ByteChunks } from "./atomic-write";
export { HASH_SLICE_BYTES, SHA256_BYTES, fileIdentity, updateHash, type FileIdentity } from "./checksum";
export {
  MODEL_FILE_EXTENSION,
  MODEL_FILE_MAGIC,
  MODEL_FILE_VERSION,
  parseModelFile,
  readModelFile,
  requireSection,
  unusableModelFile,
  writeModelFile,
  type ModelFile,
  type ModelFileContent,
  type SectionArray,
  type SectionType,
} from "./model-file";
export { deleteFile } from "./delete-file";
