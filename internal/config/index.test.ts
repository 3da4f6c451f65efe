import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { envName, type FlagSpec, helpText, parseConfig, validateConfig } from "./index.ts";

const flags: FlagSpec[] = [
  { name: "data-dir", kind: "string", arg: "DIR", help: "state" },
  { name: "format", kind: "string", choices: ["text", "json"], default: "text", help: "output" },
  { name: "dhcp-iface", kind: "list", help: "ifaces" },
  { name: "verbose", kind: "bool", help: "more" },
  { name: "timeout", kind: "number", default: 30, help: "seconds" },
];
const files: Record<string, string> = {
  "c.yml": "data-dir: /from/file\nformat: json\ntimeout: 5\n",
  "bad.yml": "nope: 1\n",
  "list.yml": "- a\n",
};
const read = (p: string): string => {
  const t = files[p];
  if (t === undefined) throw Object.assign(new Error("no"), { code: "ENOENT" });
  return t;
};

describe("parseConfig", () => {
  test("env names are derived from flag names", () => expect(envName("data-dir")).toBe("VAQUERO_DATA_DIR"));
  test("precedence: flag > env > config file > default", () => {
    const env = { VAQUERO_DATA_DIR: "/from/env", VAQUERO_FORMAT: "text" };
    const a = parseConfig("x", ["--config", "c.yml", "--data-dir=/from/flag"], flags, { env, readFile: read });
    expect(a.values).toEqual({ "data-dir": "/from/flag", format: "text", "dhcp-iface": undefined, verbose: undefined, timeout: 5 });
    expect(a.sources).toMatchObject({ "data-dir": "flag --data-dir", format: "env VAQUERO_FORMAT", timeout: "config c.yml" });
    const b = parseConfig("x", [], flags, { env: { VAQUERO_CONFIG: "c.yml" }, readFile: read });
    expect(b.values.format).toBe("json");
  });
  test("lists, booleans, positionals and --", () => {
    const c = parseConfig("x", ["a", "--dhcp-iface", "eth0,eth1", "--dhcp-iface=eth2", "--verbose", "--", "--b"], flags);
    expect(c.values["dhcp-iface"]).toEqual(["eth0", "eth1", "eth2"]);
    expect(c.values.verbose).toBe(true);
    expect(c.positionals).toEqual(["a", "--b"]);
  });
  const refused: [string, string[], Record<string, string>, string][] = [
    ["unknown flag with a suggestion", ["--data"], {}, "unknown flag --data; did you mean --data-dir?"],
    ["missing value", ["--data-dir"], {}, "--data-dir needs a value (DIR)"],
    ["bad choice", ["--format", "xml"], {}, "want text|json"],
    ["bad number from env", [], { VAQUERO_TIMEOUT: "soon" }, "from env VAQUERO_TIMEOUT"],
    ["bad bool", ["--verbose=maybe"], {}, "true|false"],
    ["unreadable config", ["--config", "none.yml"], {}, "cannot read --config none.yml: ENOENT"],
    ["unknown config key", ["--config", "bad.yml"], {}, 'unknown key "nope"'],
    ["config not a map", ["--config", "list.yml"], {}, "want a map"],
  ];
  for (const [name, argv, env, msg] of refused) {
    test(`refuses ${name} with exit 2`, () => {
      let err: unknown;
      try {
        parseConfig("x", argv, flags, { env, readFile: read });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ exitCode: 2 });
      expect((err as Error).message).toContain(msg);
    });
  }
  test("validateConfig names the flag and its source", () => {
    const parsed = parseConfig("x", [], flags, { env: { VAQUERO_TIMEOUT: "0" } });
    const schema = v.object({ timeout: v.pipe(v.number(), v.minValue(1, "must be at least 1")) });
    expect(() => validateConfig("x", schema, parsed)).toThrow("--timeout from env VAQUERO_TIMEOUT: must be at least 1");
  });
  test("help lists every flag with its env name", () => {
    const h = helpText("x", "[flags]", "does x", flags);
    for (const f of flags) expect(h).toContain(envName(f.name));
  });
});
