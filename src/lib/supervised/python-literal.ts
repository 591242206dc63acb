/**
 * A small parser for the Python literals Ultralytics writes into ONNX metadata: `names` is
 * `str(dict)`, e.g. `{0: 'scratch', 1: "dent's"}`, and `imgsz` is `str(list)`, e.g. `[640, 640]`.
 * Only int keys, int values and quoted strings are accepted; nothing is evaluated.
 */
import { DefectError } from "../errors";

/** What a literal holds: a dict of int keys, or a list; items are strings or ints. */
export type LiteralItem = string | number;
export type PythonLiteral = { kind: "dict"; entries: Array<[number, LiteralItem]> } | { kind: "list"; items: LiteralItem[] };

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  n: "\n",
  r: "\r",
  t: "\t",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
};
/** Digits after \x, \u and \U. */
const HEX_ESCAPE_DIGITS: Readonly<Record<string, number>> = { x: 2, u: 4, U: 8 };
const MAX_OCTAL_DIGITS = 3;
const OCTAL_RADIX = 8;
const HEX_RADIX = 16;
const MAX_CODE_POINT = 0x10ffff;
/** Characters of context shown around a syntax error. */
const CONTEXT_CHARS = 12;

class LiteralParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly source: string,
  ) {}

  parse(): PythonLiteral {
    this.skipSpace();
    const open = this.text[this.pos];
    let result: PythonLiteral;
    if (open === "{") result = { kind: "dict", entries: this.sequence("}", () => this.entry()) };
    else if (open === "[" || open === "(") result = { kind: "list", items: this.sequence(open === "[" ? "]" : ")", () => this.item()) };
    else throw this.fail("a dict {0: 'name', ...} or a list ['name', ...]");
    this.skipSpace();
    if (this.pos < this.text.length) throw this.fail("the end of the text");
    return result;
  }

  /** Items between an opening bracket (at pos) and `close`, comma-separated, trailing comma allowed. */
  private sequence<T>(close: string, read: () => T): T[] {
    this.pos += 1;
    const out: T[] = [];
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === close) break;
      out.push(read());
      this.skipSpace();
      if (this.text[this.pos] === ",") {
        this.pos += 1;
        continue;
      }
      if (this.text[this.pos] !== close) throw this.fail(`"," or "${close}"`);
      break;
    }
    this.pos += 1;
    return out;
  }

  private entry(): [number, LiteralItem] {
    const key = this.item();
    const index = typeof key === "number" ? key : /^\s*\d+\s*$/.test(key) ? Number(key) : Number.NaN;
    if (!Number.isSafeInteger(index) || index < 0) throw this.fail("a class index (a whole number from 0)");
    this.skipSpace();
    if (this.text[this.pos] !== ":") throw this.fail('":"');
    this.pos += 1;
    this.skipSpace();
    return [index, this.item()];
  }

  private item(): LiteralItem {
    const ch = this.text[this.pos];
    if (ch === "'" || ch === '"') return this.string(ch);
    const match = /^-?\d+/.exec(this.text.slice(this.pos));
    if (match === null) throw this.fail("a quoted string or a whole number");
    this.pos += match[0].length;
    return Number(match[0]);
  }

  private string(quote: string): string {
    const start = this.pos;
    this.pos += 1;
    let out = "";
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos]!;
      if (ch === quote) {
        this.pos += 1;
        return out;
      }
      if (ch === "\n") break;
      if (ch === "\\") {
        out += this.escape();
        continue;
      }
      out += ch;
      this.pos += 1;
    }
    this.pos = start;
    throw this.fail(`a closing ${quote} for the string starting here`);
  }

  /** One escape sequence at pos (the backslash); Python keeps unknown escapes as written. */
  private escape(): string {
    const next = this.text[this.pos + 1];
    if (next === undefined) throw this.fail("a character after the backslash");
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      this.pos += 2;
      return simple;
    }
    if (next === "\n") {
      this.pos += 2;
      return "";
    }
    const hexDigits = HEX_ESCAPE_DIGITS[next];
    if (hexDigits !== undefined) {
      const digits = this.text.slice(this.pos + 2, this.pos + 2 + hexDigits);
      const code = /^[0-9a-fA-F]+$/.test(digits) && digits.length === hexDigits ? parseInt(digits, HEX_RADIX) : Number.NaN;
      if (!(code <= MAX_CODE_POINT)) throw this.fail(`${hexDigits} hex digits after \\${next}`);
      this.pos += 2 + hexDigits;
      return String.fromCodePoint(code);
    }
    const octal = /^[0-7]+/.exec(this.text.slice(this.pos + 1, this.pos + 1 + MAX_OCTAL_DIGITS));
    if (octal !== null) {
      this.pos += 1 + octal[0].length;
      return String.fromCodePoint(parseInt(octal[0], OCTAL_RADIX));
    }
    this.pos += 2;
    return `\\${next}`;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos += 1;
  }

  private fail(expected: string): DefectError {
    const found = this.pos < this.text.length ? JSON.stringify(this.text.slice(this.pos, this.pos + CONTEXT_CHARS)) : "the end of the text";
    return new DefectError(
      "classNamesInvalid",
      `class names from ${this.source} cannot be read: expected ${expected} at character ${this.pos + 1}, found ${found}`,
      { source: this.source, position: this.pos + 1, expected },
    );
  }
}

/** Parses a Python dict/list/tuple literal of strings and ints; throws DefectError("classNamesInvalid"). */
export function parsePythonLiteral(text: string, source: string): PythonLiteral {
  return new LiteralParser(text, source).parse();
}
