/**
 * Every text a user reads comes from the en-US catalogs, so another language is one more
 * locales/<lang>/ folder: the editor's data-i18n keys and this._()/node._() keys, the runtime's
 * RED._() and status keys all exist in the node's own catalog; the dialogs hold no hard-coded
 * English; the help of every node follows Node-RED's help style.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { catalogKeys } from "../fixtures/node-red";

const NODES_DIR = join(process.cwd(), "src", "nodes");
const LOCALES = join(NODES_DIR, "locales", "en-US");
const NAMES = [
  "image-source",
  "preprocess",
  "detector",
  "threshold",
  "mask-to-region",
  "alarm",
  "join-views",
  "archive",
  "part-wire",
  "part-collector",
  "model-share",
  "vision-station",
];
/** Node-RED's own catalog, which "node-red:" keys (e.g. the Name label) refer to. */
const CORE_MESSAGES = JSON.parse(readFileSync(require.resolve("@node-red/nodes/locales/en-US/messages.json"), "utf8")) as Record<string, unknown>;
/** Words the dialogs may show untranslated: tensor layouts are names, not English. */
const UNTRANSLATED = new Set(["NCHW", "NHWC"]);

function read(path: string): string {
  return readFileSync(path, "utf8");
}

function lookup(catalog: Record<string, unknown>, key: string): unknown {
  let entry: unknown = catalog;
  for (const part of key.split(".")) entry = typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>)[part] : undefined;
  return entry;
}

/** The keys of one data-i18n attribute: "label.x;[title]tip.x" holds two. */
function dataI18nKeys(html: string): string[] {
  return [...html.matchAll(/data-i18n="([^"]+)"/g)].flatMap((m) => (m[1] as string).split(";").map((k) => k.replace(/^\[[a-z]+\]/, "")));
}

/** Literal keys of _() calls, and the literal prefixes of keys built as "prefix." + part. */
function translatorCalls(source: string): { keys: string[]; prefixes: string[] } {
  const keys = [...source.matchAll(/\b_\(\s*["'`]([\w.-]+)["'`]\s*[,)]/g)].map((m) => m[1] as string);
  const prefixes = [...source.matchAll(/\b_\(\s*["']([\w.-]+\.)["']\s*\+/g)].map((m) => (m[1] as string).slice(0, -1));
  return { keys, prefixes };
}

function templateOf(html: string, type: string): string {
  const match = new RegExp(`<script type="text/html" data-template-name="${type}">([\\s\\S]*?)</script>`).exec(html);
  assert.ok(match, `${type} has an edit template`);
  return match[1] as string;
}

describe("i18n: every visible text comes from the catalogs", function () {
  for (const name of NAMES) {
    const type = `defect-${name}`;
    describe(type, function () {
      const keys = catalogKeys(name);
      const catalog = JSON.parse(read(join(LOCALES, `${name}.json`))) as Record<string, unknown>;
      const html = read(join(NODES_DIR, `${name}.html`));

      it("finds every key of the edit dialog and editor script in its catalog (node-red: keys in Node-RED's)", function () {
        const missing: string[] = [];
        for (const key of dataI18nKeys(html)) {
          if (key.startsWith("node-red:")) {
            if (typeof lookup(CORE_MESSAGES, key.slice("node-red:".length)) !== "string") missing.push(key);
          } else if (!keys.has(key)) missing.push(key);
        }
        const calls = translatorCalls(html);
        for (const key of calls.keys) if (key.startsWith("defect-") && !keys.has(key)) missing.push(key);
        for (const prefix of calls.prefixes) if (typeof lookup(catalog, prefix) !== "object") missing.push(`${prefix}.*`);
        assert.deepEqual(missing, []);
        assert.ok(dataI18nKeys(html).length > 5, "the dialog is translated at all");
      });

      it("shows no hard-coded English in the dialog (text, placeholders, tooltips)", function () {
        const template = templateOf(html, type);
        assert.doesNotMatch(template, /\s(placeholder|title)="[^"]*[A-Za-z]{2,}[^"]*"/, "placeholders and tooltips go through data-i18n");
        const text = template
          .replace(/<[^>]+>/g, " ")
          .replace(/&[a-z]+;/g, " ")
          .split(/\s+/)
          .filter((word) => /[A-Za-z]{2,}/.test(word) && !UNTRANSLATED.has(word));
        assert.deepEqual(text, [], "visible words in the template");
      });

      it("shows no hard-coded English from the editor script (notifications, texts, titles)", function () {
        const script = html.replace(/<script type="text\/html"[\s\S]*?<\/script>/g, "");
        const literal = /(?:RED\.notify|\.text|\.html|\.attr\(\s*["']title["']\s*,)\(?\s*["']([^"']*[A-Za-z]{2,}\s+[A-Za-z]{2,}[^"']*)["']/g;
        assert.deepEqual(
          [...script.matchAll(literal)].map((m) => m[1]),
          [],
        );
      });

      it("gives every field of the dialog a translated tooltip", function () {
        const template = templateOf(html, type);
        const labels = [...template.matchAll(/<label for="node-input-(\w+)"([^>]*)>/g)];
        assert.ok(labels.length > 3);
        const untipped = labels.filter((m) => m[1] !== "name" && !/data-i18n="[^"]*\[title\]/.test(m[2] as string)).map((m) => m[1]);
        assert.deepEqual(untipped, []);
      });

      it("translates the runtime's status texts, warnings and messages", function () {
        const missing: string[] = [];
        const files = readdirSync(NODES_DIR).filter((f) => f.endsWith(".ts") && (f === `${name}.ts` || f.startsWith(`${name}-`)));
        for (const file of files) {
          const source = read(join(NODES_DIR, file));
          const literalKeys = [...source.matchAll(/RED\._\(`\$\{TYPE\}\.([\w.]+)`/g)].map((m) => `${type}.${m[1] as string}`);
          const prefixes = [...source.matchAll(/RED\._\(`\$\{TYPE\}\.([\w.]+)\.\$\{/g)].map((m) => `${type}.${m[1] as string}`);
          const states = [...source.matchAll(/status\.set\("(\w+)"\)/g)].map((m) => `${type}.status.${m[1] as string}`);
          for (const key of [...literalKeys, ...states]) if (!keys.has(key)) missing.push(`${file}: ${key}`);
          for (const prefix of prefixes) if (typeof lookup(catalog, prefix) !== "object") missing.push(`${file}: ${prefix}.*`);
          // A state table's looks shown with set() (directly or by a computed name) need a text.
          const table = /const STATES = \{([\s\S]*?)\} as const/.exec(source)?.[1] ?? "";
          for (const state of [...table.matchAll(/^\s*(\w+):/gm)].map((m) => m[1] as string)) {
            const onlyWithText = source.includes(`setText("${state}"`) && !source.includes(`set("${state}")`);
            if (!onlyWithText && !keys.has(`${type}.status.${state}`)) missing.push(`${file}: ${type}.status.${state}`);
          }
        }
        // Every error path turns the status red with the "error" state and names the error code.
        for (const key of [`${type}.status.error`, `${type}.errors.unexpected`, `${type}.errors.invalidOption`]) {
          if (!keys.has(key)) missing.push(key);
        }
        assert.deepEqual(missing, []);
      });

      it("has help in Node-RED's style: summary, Inputs, Outputs, Details, References", function () {
        const help = read(join(LOCALES, `${name}.html`));
        const body = new RegExp(`<script type="text/html" data-help-name="${type}">([\\s\\S]*?)</script>`).exec(help)?.[1] ?? "";
        assert.match(body, /^\s*<p>/, "the first paragraph is the palette tooltip");
        const headings = [...body.matchAll(/<h3>([^<]+)<\/h3>/g)].map((m) => m[1]);
        assert.deepEqual(headings, ["Inputs", "Outputs", "Details", "References"]);
        assert.match(body, /<dl class="message-properties">[\s\S]*?<dt[^>]*>[^<]+<span class="property-type">/);
        const outputs = /<h3>Outputs<\/h3>([\s\S]*?)<h3>/.exec(body)?.[1] ?? "";
        const ports = Number(/outputs:\s*(\d+)/.exec(html)?.[1]);
        if (ports > 1) {
          assert.match(outputs, /<ol class="node-ports">/, "several outputs are listed as node-ports");
          assert.equal([...outputs.matchAll(/<li>/g)].length, ports, "one list item per output");
        } else {
          assert.match(outputs, /<dl class="message-properties">/);
        }
        const references = /<h3>References<\/h3>([\s\S]*)$/.exec(body)?.[1] ?? "";
        assert.match(references, /<a href="https:\/\/[^"]+"/, "links to the documentation");
      });
    });
  }
});
