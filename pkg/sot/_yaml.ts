/**
 * YAML and JSON documents with positions: every value and every map key of a parsed document can be traced
 * back to its 1-based line and column, so findings point at the offending text.
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
