export {
  contentTypeOf,
  decodePart,
  decodeResult,
  encodePart,
  encodeResult,
  looksLikePart,
  PART_FORMAT,
  PART_PROPERTIES,
  RESULT_FORMAT,
  WIRE_VERSION,
  type MqttFields,
  type WirePart,
  type WireResult,
} from "./wire";
export { PartLedger, type Due, type LedgerCounts, type LedgerOptions, type ResultFate } from "./ledger";
export {
  decodeModelShare,
  describeModelFile,
  encodeModelShare,
  readSavedModel,
  savedModelVersion,
  writeIncomingModel,
  MODEL_FORMAT,
  type ModelShare,
  type ModelShareFields,
} from "./model-share";
export {
  DEFAULT_LEDGER,
  parseLedgerOptions,
  parseShareOptions,
  parseWireOptions,
  SHARE_MODES,
  WIRE_MODES,
  type ShareMode,
  type ShareOptions,
  type WireMode,
  type WireOptions,
} from "./options";
