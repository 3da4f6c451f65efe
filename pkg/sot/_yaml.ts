/**
 * YAML and JSON documents with positions: every value and every map key of a parsed document can be traced
 * back to its 1-based line and column, so findings point at the offending text.
 *
 * Two parsers, one result. The exact one (the `yaml` package) keeps positions and catches every error,
 * duplicate keys included, but reads about 2 MB/s. The fast one (Bun's native YAML parser, ~40 MB/s) has no
 * positions and lets a duplicate key win silently. So a text goes the fast way only when a conservative
 * scan finds no possible duplicate key and the native parser accepts it; positions are then computed by the
 * exact parser on first use (only when a finding needs one). Anything else goes the exact way.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from "yaml";

/** Deepest nesting a SoT document may have. */
export const MAX_DEPTH = 64;

/** A JSON-pointer-like path into a document: keys and indexes. */
export type DocPath = readonly (string | number)[];

/** 1-based position in a file. */
export interface Pos {
  line: number;
  column: number;
}

/** One parsed document of a file, with a position index. */
export interface YamlDoc {
  /** The plain value (objects, arrays, strings, numbers, booleans, null). */
  value: unknown;
  /** Index of the document in its file (0 for the first). */
  index: number;
  /** Position of the document start. */
  start: Pos;
  /** Position of the value at `path`, or of the nearest ancestor known. */
  at(path: DocPath): Pos;
  /** Position of the key of the map entry at `path` (its last element), or {@link at} when not a map key. */
  keyAt(path: DocPath): Pos;
}

/** Why a file did not parse. */
export interface YamlProblem {
  kind: "syntax" | "too-deep";
  pos: Pos;
  message: string;
}

/** The result of parsing one file. */
export interface YamlFile {
  docs: YamlDoc[];
  problems: YamlProblem[];
}

const pathKey = (path: DocPath): string => path.join("\u0000");

/** Parses every document of a YAML (or JSON) text, keeping positions. Never throws. */
export function parseYamlFile(text: string): YamlFile {
  return parseFast(text) ?? parseYamlExact(text);
}

/** The exact parser alone (the `yaml` package): values, positions and precise errors. Never throws. */
export function parseYamlExact(text: string): YamlFile {
  const lc = new LineCounter();
  const posOf = (offset: number): Pos => {
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  };
  let parsed: ReturnType<typeof parseAllDocuments>;
  try {
    parsed = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    if (e instanceof RangeError) {
      return { docs: [], problems: [{ kind: "too-deep", pos: { line: 1, column: 1 }, message: "nesting too deep to parse" }] };
    }
    throw e;
  }
  const list = Array.isArray(parsed) ? parsed : [];
  const problems: YamlProblem[] = [];
  const docs: YamlDoc[] = [];
  list.forEach((doc, index) => {
    const firstError = doc.errors[0];
    if (firstError) {
      const deep = /call stack/i.test(firstError.message);
      problems.push({
        kind: deep ? "too-deep" : "syntax",
        pos: posOf(firstError.pos[0]),
        message: deep ? "nesting too deep to parse" : oneLine(firstError.message),
      });
      return;
    }
    const values = new Map<string, Pos>();
    const keys = new Map<string, Pos>();
    const start = posOf(doc.range?.[0] ?? 0);
    let tooDeep: Pos | undefined;
    const walk = (node: unknown, path: (string | number)[], depth: number): void => {
      if (tooDeep) return;
      if (depth >= MAX_DEPTH) {
        tooDeep = rangeStart(node) ?? start;
        return;
      }
      const r = rangeStart(node);
      if (r) values.set(pathKey(path), r);
      if (isMap(node)) {
        for (const pair of node.items) {
          if (!isPair(pair)) continue;
          const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
          const kp = [...path, k];
          const kr = rangeStart(pair.key);
          if (kr) keys.set(pathKey(kp), kr);
          walk(pair.value, kp, depth + 1);
          const empty =
            pair.value === null || (isScalar(pair.value) && pair.value.value === null && pair.value.range?.[0] === pair.value.range?.[1]);
          if (empty && kr) values.set(pathKey(kp), kr);
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => {
          walk(item, [...path, i], depth + 1);
        });
      }
    };
    const rangeStart = (node: unknown): Pos | undefined => {
      const n = node as Node | null;
      if (n && typeof n === "object" && "range" in n && Array.isArray(n.range)) return posOf(n.range[0]);
      return undefined;
    };
    try {
      walk(doc.contents, [], 0);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      tooDeep = start;
    }
    if (tooDeep) {
      problems.push({ kind: "too-deep", pos: tooDeep, message: `nesting deeper than ${MAX_DEPTH} levels` });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      problems.push({ kind: "syntax", pos: start, message: oneLine(e instanceof Error ? e.message : String(e)) });
      return;
    }
    const at = (path: DocPath): Pos => {
      for (let n = path.length; n >= 0; n--) {
        const p = values.get(pathKey(path.slice(0, n)));
        if (p) return p;
      }
      return start;
    };
    const keyAt = (path: DocPath): Pos => keys.get(pathKey(path)) ?? at(path);
    docs.push({ value, index, start, at, keyAt });
  });
  return { docs, problems };
}

function oneLine(s: string): string {
  return s.split("\n")[0]?.trim() ?? s;
}

/** Document separators the fast path splits on: `---` alone on a line. */
const DOC_START = /^---[ \t]*$/;

/** The fast path; `undefined` when the text must go the exact way. */
function parseFast(text: string): YamlFile | undefined {
  const yaml = (globalThis as { Bun?: { YAML?: { parse(t: string): unknown } } }).Bun?.YAML;
  if (!yaml || /^(%|\.\.\.|--- *\S)/m.test(text)) return undefined;
  const lines = text.split("\n");
  const chunks: { text: string; firstLine: number }[] = [];
  let start = 0;
  lines.forEach((l, i) => {
    if (DOC_START.test(l)) {
      chunks.push({ text: lines.slice(start, i).join("\n"), firstLine: start + 1 });
      start = i + 1;
    }
  });
  chunks.push({ text: lines.slice(start).join("\n"), firstLine: start + 1 });
  const docs: YamlDoc[] = [];
  for (const chunk of chunks) {
    if (!/^[ \t]*[^\s#]/m.test(chunk.text)) {
      if (chunk.firstLine > 1) docs.push(lazyDoc(null, docs.length, chunk));
      continue;
    }
    if (mayHaveDuplicateKeys(chunk.text)) return undefined;
    let value: unknown;
    try {
      value = yaml.parse(chunk.text);
    } catch {
      return undefined;
    }
    if (depthOf(value, 0) >= MAX_DEPTH) return undefined;
    docs.push(lazyDoc(value ?? null, docs.length, chunk));
  }
  return { docs, problems: [] };
}

/** A document whose positions are computed by the exact parser on first use. */
function lazyDoc(value: unknown, index: number, chunk: { text: string; firstLine: number }): YamlDoc {
  let exact: YamlDoc | undefined | null;
  const shift = (p: Pos): Pos => ({ line: p.line + chunk.firstLine - 1, column: p.column });
  const start: Pos = { line: chunk.firstLine, column: 1 };
  const get = (): YamlDoc | undefined => {
    if (exact === undefined) exact = parseYamlExact(chunk.text).docs[0] ?? null;
    return exact ?? undefined;
  };
  return {
    value,
    index,
    start,
    at: (path) => {
      const d = get();
      return d ? shift(d.at(path)) : start;
    },
    keyAt: (path) => {
      const d = get();
      return d ? shift(d.keyAt(path)) : start;
    },
  };
}

function depthOf(v: unknown, d: number): number {
  if (d >= MAX_DEPTH || v === null || typeof v !== "object") return d;
  let max = d;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    max = Math.max(max, depthOf(x, d + 1));
    if (max >= MAX_DEPTH) break;
  }
  return max;
}

const KEY_RE = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"{[\]},&*!|>?%@`-][^#]*?|-[^\s#][^#]*?)[ \t]*:(?:[ \t]+(.*))?$/;
const FLOW_KEY_RE = /(?:^|[{,])\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s,{}[\]:"'][^,{}[\]:]*?)\s*:(?=\s|$)/g;
const unquote = (k: string): string => (/^["']/.test(k) ? k.slice(1, -1) : k.trim());

/**
 * A conservative scan for duplicate map keys, which the native parser would let through. It may report a
 * duplicate that is not one (the exact parser then decides); it must never miss one. Anything it does not
 * understand (tabs, complex keys, anchors or tags before keys, flow maps across lines, multi-line quoted
 * scalars) counts as a possible duplicate.
 */
export function mayHaveDuplicateKeys(text: string): boolean {
  const contexts: { col: number; keys: Set<string> }[] = [];
  let blockIndent = -1;
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const indent = line.search(/\S/);
    if (indent === -1) continue;
    if (blockIndent >= 0) {
      if (indent > blockIndent) continue;
      blockIndent = -1;
    }
    if (line[indent] === "#") continue;
    if (/^[ ]*\t/.test(line) || /^\t/.test(line)) return true;
    let col = indent;
    let rest = line.slice(indent);
    while (rest === "-" || rest.startsWith("- ")) {
      while (contexts.length && (contexts[contexts.length - 1]?.col ?? -1) > col) contexts.pop();
      const skip = rest === "-" ? 1 : 2 + (rest.slice(2).search(/\S|$/) ?? 0);
      col += skip;
      rest = rest.slice(skip);
      while (contexts.length && (contexts[contexts.length - 1]?.col ?? -1) >= col) contexts.pop();
      if (rest === "") break;
    }
    if (rest === "") continue;
    if (/^[?&!*]/.test(rest)) return true;
    const m = KEY_RE.exec(rest);
    let value = rest;
    if (m) {
      const key = unquote(m[1] ?? "");
      while (contexts.length && (contexts[contexts.length - 1]?.col ?? -1) > col) contexts.pop();
      let top = contexts[contexts.length - 1];
      if (!top || top.col !== col) {
        top = { col, keys: new Set() };
        contexts.push(top);
      }
      if (top.keys.has(key)) return true;
      top.keys.add(key);
      value = m[2] ?? "";
      if (/^[|>][-+0-9]*[ \t]*(#.*)?$/.test(value)) blockIndent = col;
      if (/^[&!]/.test(value)) return true;
    } else if (/^[|>][-+0-9]*[ \t]*(#.*)?$/.test(rest)) {
      blockIndent = col - 1;
      continue;
    }
    if (value.includes('"') || value.includes("'")) {
      const quotes = ((value.replace(/\\./g, "").match(/"/g)?.length ?? 0) % 2) + ((value.match(/'/g)?.length ?? 0) % 2);
      if (quotes && !/^[^"']*#/.test(value)) return true;
    }
    if ((value.includes("{") || value.includes("}")) && flowHasDuplicate(value)) return true;
  }
  return false;
}

/** Duplicate keys inside the flow maps of one line; unbalanced braces count as a possible duplicate. */
function flowHasDuplicate(s: string): boolean {
  const stripped = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'/g, (q) => q.replace(/[{}]/g, "_"));
  // A map used as a key (`{{ x }}` left unquoted): the native parser turns it into "[object Object]".
  if (/[{[,]\s*[{[]/.test(stripped)) return true;
  let depth = 0;
  let groupStart = -1;
  for (let i = 0; i < stripped.length; i++) {
    const c = stripped[i];
    if (c === "#" && (i === 0 || /\s/.test(stripped[i - 1] ?? ""))) break;
    if (c === "{") {
      if (depth === 0) groupStart = i;
      depth++;
    } else if (c === "}") {
      depth--;
      if (depth < 0) return true;
      if (depth === 0) {
        const group = s.slice(groupStart, i + 1);
        const seen = new Set<string>();
        // Nested maps share one set here: a false alarm at worst.
        for (const km of group.matchAll(FLOW_KEY_RE)) {
          const k = unquote(km[1] ?? "");
          if (seen.has(k)) return true;
          seen.add(k);
        }
      }
    }
  }
  return depth !== 0;
}
