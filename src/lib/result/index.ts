/** Numbering inspection results per station (msg.result.id); the record itself is in src/lib/message/result.ts. */
export { RESULT_ID_BLOCK, RESULT_IDS_EXTENSION, RESULT_IDS_FORMAT, RESULT_IDS_VERSION, ResultIds, resultIdsPath, type ResultIdGrant } from "./result-ids";
