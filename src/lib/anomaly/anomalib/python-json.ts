/**
 * anomalib writes metadata.json with Python's `json.dump`, which by default emits the bare
 * tokens NaN, Infinity and -Infinity (e.g. a threshold that was never computed). JSON.parse
 * rejects them, so they are turned into null first and then read as "no value".
 */

const NON_FINITE_TOKENS = ["-Infinity", "Infinity", "NaN"] as const;

/** Parses JSON text, reading Python's non-finite number tokens as null; throws SyntaxError otherwise. */
export function parsePythonJson(text: string): unknown {
  return JSON.parse(replaceNonFinite(text));
}

function replaceNonFinite(text: string): string {
  let out = "";
  let inString = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i] ?? "";
    if (inString) {
      out += ch;
      if (ch === "\\") {
        // The escaped character is copied as is, so an escaped quote never ends the string.
        out += text[i + 1] ?? "";
        i += 2;
        continue;
      }
      if (ch === '"') inString = false;
      i += 1;
      continue;
    }
    if (ch === '"') {
      inString = true;
      out += ch;
      i += 1;
      continue;
    }
    const token = NON_FINITE_TOKENS.find((t) => text.startsWith(t, i));
    if (token !== undefined) {
      out += "null";
      i += token.length;
      continue;
    }
    out += ch;
    i += 1;
  }
  return out;
}
