/** The whole command line in-process, through run(argv, io): exit codes, outputs and errors of every verb. */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { captureIo } from "../../internal/cli/index.ts";
import { PENDING } from "./_pending.ts";
import { run } from "./run.ts";

const ROOT = resolve(import.meta.dir, "../..");
const EXAMPLE = join(ROOT, "examples/sot");
const FIXTURES = join(ROOT, "test/fixtures");
const work = mkdtempSync(join(tmpdir(), "vq-cli-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A copy of a fixture without its expect.json (which is not part of a SoT). */
function fixture(name: string): string {
  const dir = join(work, `fx-${name}`);
  cpSync(join(FIXTURES, name), dir, { recursive: true, verbatimSymlinks: true });
  rmSync(join(dir, "expect.json"), { force: true });
  return dir;
}

async function vq(argv: string[], env: Record<string, string> = {}) {
  const io = captureIo(env);
  const code = await run(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

describe("vaquero", () => {
  test("no verb: usage on stderr, exit 2; --help: usage on stdout, exit 0", async () => {
    expect(await vq([])).toMatchObject({ code: 2, out: "" });
    const h = await vq(["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain("usage: vaquero <verb>");
  });
  test("version", async () => expect(await vq(["version"])).toEqual({ code: 0, out: "vaquero 0.1.0\n", err: "" }));
  test("unknown verb", async () =>
    expect(await vq(["frobnicate"])).toEqual({
      code: 2,
      out: "",
      err: "vaquero: unknown verb \"frobnicate\"; run 'vaquero --help' for the list\n",
    }));
  for (const verb of ["validate", "preview", ...Object.keys(PENDING)]) {
    test(`${verb} --help exits 0 and lists its flags`, async () => {
      const r = await vq([verb, "--help"]);
      expect(r.code).toBe(0);
      expect(r.out).toStartWith(`usage: vaquero ${verb} `);
      expect(r.out).toContain("VAQUERO_");
    });
  }
  for (const verb of Object.keys(PENDING)) {
    test(`${verb} is not built yet: one line, exit 2`, async () => {
      expect(await vq([verb])).toEqual({ code: 2, out: "", err: `vaquero ${verb}: not built yet in vaquero 0.1.0\n` });
    });
  }
});

describe("vaquero validate", () => {
  test("the example is valid: text summary, exit 0", async () => {
    const r = await vq(["validate", EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^✔ .*examples\/sot: valid \(0 errors, 0 warnings; 2 sites, 13 hosts rendered; release dir-[0-9a-f]{12}\)\n$/);
  });
  test("json: only the findings array on stdout", async () => {
    const r = await vq(["validate", fixture("duplicate-mac"), "--format", "json"]);
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.out) as { code: string; severity: string; file: string; line: number; column: number; message: string }[];
    expect(findings).toEqual([
      {
        code: "DUPLICATE_MAC",
        severity: "error",
        file: "sites/s1/cluster-a.yml",
        line: 15,
        column: expect.any(Number) as unknown as number,
        message: expect.stringContaining("52:54:00:00:00:01") as unknown as string,
      },
    ]);
  });
  test("github: one workflow annotation per finding, paths prefixed with the SoT path", async () => {
    const dir = fixture("duplicate-mac");
    const r = await vq(["validate", dir, "--format", "github"], {});
    expect(r.code).toBe(1);
    expect(r.out).toStartWith(`::error file=${dir}/sites/s1/cluster-a.yml,line=15,col=14,title=DUPLICATE_MAC::site "s1": MAC `);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    expect(r.err).toContain("invalid: 1 error, 0 warnings");
  });
  test("text groups findings by file and ends with a summary", async () => {
    const r = await vq(["validate", fixture("unused-os")]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("os/debian.yml\n  1:5      warning UNUSED_OS");
    expect(r.out).toMatch(/valid \(0 errors, 1 warning;/);
  });
  test("colour on a terminal, none with NO_COLOR or into a pipe", async () => {
    const dir = fixture("unused-os");
    const paint = async (env: Record<string, string | undefined>) => {
      const io = captureIo(env);
      io.outIsTTY = true;
      await run(["validate", dir], io);
      return io.stdout;
    };
    expect(await paint({})).toContain("\x1b[33mwarning\x1b[0m");
    expect(await paint({ NO_COLOR: "1" })).not.toContain("\x1b[");
    expect((await vq(["validate", dir])).out).not.toContain("\x1b[");
  });
  test("flags from the environment and from a config file", async () => {
    const cfg = join(work, "v.yml");
    writeFileSync(cfg, "format: json\n");
    expect((await vq(["validate", EXAMPLE], { VAQUERO_FORMAT: "json" })).out).toBe("[]\n");
    expect((await vq(["validate", EXAMPLE, "--config", cfg])).out).toBe("[]\n");
    expect((await vq(["validate", EXAMPLE, "--config", cfg, "--format", "text"])).out).toStartWith("✔");
  });
  test("--schema prints the JSON Schema of every document kind", async () => {
    const r = await vq(["validate", "--schema"]);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out) as { documents: Record<string, { schema: { type: string; properties: Record<string, unknown> } }> };
    expect(Object.keys(schema.documents).sort()).toEqual(["boot", "cluster", "env", "os", "workflow"]);
    expect(Object.keys(schema.documents.os?.schema.properties ?? {})).toContain("kernel");
    expect(JSON.stringify(schema.documents.cluster)).toContain('"password_ref"');
  });
  const usage: [string, string[], string][] = [
    ["unknown flag", ["validate", "--formt", "json"], "unknown flag --formt"],
    ["bad format", ["validate", "--format", "xml"], "want text|json|github"],
    ["two paths", ["validate", "a", "b"], "one PATH or GIT-URL at most"],
    ["missing path", ["validate", "/nonexistent/sot"], 'sot: cannot read "/nonexistent/sot": no such file or directory'],
    ["a file, not a directory", ["validate", join(ROOT, "package.json")], "is not a directory"],
    ["--ref on a plain directory", ["validate", EXAMPLE, "--ref", "main"], "is not a git repository"],
    ["an unsupported URL", ["validate", "git://example.invalid/sot.git"], "git://"],
    ["a closed port", ["validate", "http://127.0.0.1:9/sot.git", "--timeout", "2"], "cannot reach http://127.0.0.1:9/sot.git"],
  ];
  for (const [name, argv, msg] of usage) {
    test(`${name}: one line on stderr, exit 2`, async () => {
      const r = await vq(argv);
      expect(r.code).toBe(2);
      expect(r.out).toBe("");
      expect(r.err).toContain(msg);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    });
  }
});

describe("vaquero preview", () => {
  const mac = "0C-C4-7A-10-00-11";
  test("the iPXE script by default, any MAC spelling", async () => {
    const r = await vq(["preview", "--sot", EXAMPLE, "--mac", mac]);
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toStartWith("#!ipxe\nkernel https://stable.release.flatcar-linux.net/amd64-usr/4081.2.0/flatcar_production_pxe.vmlinuz ");
    expect(r.out).toContain("ignition.config.url=http://10.10.0.2:8080/config/0c:c4:7a:10:00:11?boot=flatcar-live ");
    expect(r.out).toEndWith("\nboot\n");
  });
  test("--cmdline, --config and --boot", async () => {
    const c = await vq(["preview", "--sot", EXAMPLE, "--mac", mac, "--cmdline", "--boot", "flatcar-install"]);
    expect(c.out).toContain("?boot=flatcar-install ");
    expect(c.out.split("\n")).toHaveLength(2);
    const cfg = await vq(["preview", "--sot", EXAMPLE, "--mac", "52:54:00:77:00:21", "--config"]);
    expect(cfg.code).toBe(0);
    expect(cfg.out).toContain("d-i netcfg/get_hostname string deb-1\n");
    const ign = await vq(["preview", "--sot", EXAMPLE, "--mac", mac, "--config"]);
    expect(JSON.parse(ign.out)).toMatchObject({ ignition: { version: "3.3.0" } });
  });
  test("a MAC in two sites needs --site", async () => {
    const dir = join(work, "two-sites");
    cpSync(EXAMPLE, dir, { recursive: true });
    const env = join(dir, "sites/dc-east/cluster-control.yml");
    writeFileSync(env, (await Bun.file(env).text()).replace('"0c:c4:7a:10:00:11"', '"52:54:00:77:00:21"'));
    const r = await vq(["preview", "--sot", dir, "--mac", "52:54:00:77:00:21"]);
    expect(r).toMatchObject({ code: 2, out: "" });
    expect(r.err).toContain("is in several sites (dc-east, lab); pick one with --site");
    expect((await vq(["preview", "--sot", dir, "--mac", "52:54:00:77:00:21", "--site", "lab", "--cmdline"])).out).toContain(
      "hostname=deb-1",
    );
  });
  const failures: [string, string[], number, string][] = [
    ["unknown MAC", ["--mac", "52:54:00:ff:ff:ff"], 1, "is not a host interface in any site"],
    ["malformed MAC", ["--mac", "52:54:00"], 2, "--mac from flag --mac: want a MAC like"],
    ["unknown boot", ["--mac", mac, "--boot", "nope"], 2, 'boot "nope" is not used in site "dc-east"'],
    ["two outputs at once", ["--mac", mac, "--config", "--cmdline"], 2, "are exclusive"],
    ["unknown site", ["--mac", mac, "--site", "nope"], 2, 'site "nope" is not in the SoT'],
  ];
  for (const [name, argv, code, msg] of failures) {
    test(`${name}: exit ${code}`, async () => {
      const r = await vq(["preview", "--sot", EXAMPLE, ...argv]);
      expect(r).toMatchObject({ code, out: "" });
      expect(r.err).toContain(msg);
    });
  }
  test("an invalid SoT is never previewed", async () => {
    const r = await vq(["preview", "--sot", fixture("duplicate-mac"), "--mac", "52:54:00:00:00:01"]);
    expect(r).toMatchObject({ code: 1, out: "" });
    expect(r.err).toContain("an agent is never given an invalid release");
  });
  test("--sot is required", async () => {
    const r = await vq(["preview", "--mac", mac]);
    expect(r.code).toBe(2);
    expect(r.err).toBe("vaquero preview: --sot is required (see vaquero preview --help)\n");
  });
  test("its config file comes from VAQUERO_CONFIG; its --config switch never does", async () => {
    const cfg = join(work, "p.yml");
    writeFileSync(cfg, `sot: ${EXAMPLE}\ncmdline: true\n`);
    const r = await vq(["preview", "--mac", mac], { VAQUERO_CONFIG: cfg });
    expect(r).toMatchObject({ code: 0, err: "" });
    expect(r.out).toStartWith("flatcar.first_boot=1 ");
    expect((await vq(["preview", "--help"])).out).not.toContain("[VAQUERO_CONFIG]\n  --cmdline");
  });
});
