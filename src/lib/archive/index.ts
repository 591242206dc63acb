/** The NG archive: parts filed in MVTec AD layout, within count, size, age and free-space bounds. */
export { Archive, RECORD_FORMAT, RECORD_VERSION, type ArchiveBounds, type ArchiveDeps, type FreeSpace, type NewEntry, type WriteOutcome } from "./archive";
export { entryBytes, entryFiles, type ArchiveEntry, type StoredFile } from "./entries";
export { ArchiveFiler, archivedExtension, type ConfirmedPart, type Filing, type FilingOptions, type InspectedPart } from "./filing";
export {
  entryName,
  GROUND_TRUTH_FOLDER,
  imageExtension,
  imageFolder,
  maskPath,
  parseEntryName,
  partKey,
  PLACES,
  RECORDS_FOLDER,
  recordFolder,
  type Place,
} from "./layout";
export { BYTES_PER_MB, DEFAULT_FOLDER, MS_PER_DAY, parseArchiveOptions, type ArchiveOptions } from "./options";
export { encodeMaskPng, rasterizeRegion } from "./region-mask";
export { scanArchive, type ScanReport } from "./scan";
