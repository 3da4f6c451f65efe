/**
 * TLS and mutual TLS between agents and the server, every process the compiled binary, all on 127.0.0.1. Keys and
 * certificates are made with `openssl`: a CA, the server's certificate for IP 127.0.0.1, a client certificate of
 * that CA and one of another CA.
 *
 * A server with --tls-cert/--tls-key/--client-ca: the agent with the right client certificate registers and
 * switches to a prepared release; the agent without a certificate and the one with the other CA's certificate fail
 * the handshake, log why, and serve nothing; curl without a client certificate fails, with it and a token it
 * works; a token over plain HTTP to the TLS port gets nothing. A server with TLS but no client CA: the agent with
 * --ca-file registers, the one without logs that the server's certificate is not trusted. Bad TLS flags and files
 * end both verbs with exit 2 naming the flag or file.
 *
 * Logs of every process are written to `<temp dir>/logs/`; the directory is kept when a test fails.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { builtBinary } from "./_helpers/build.ts";
import { commitAll } from "./_helpers/git.ts";
import { freePort } from "./_helpers/ports.ts";
import { killAll, spawnVaquero, until, type VaqueroProc } from "./_helpers/vaquero-proc.ts";

const ROOT = resolve(import.meta.dir, "..");
const work = mkdtempSync(join(tmpdir(), "vq-mtls-"));
const logDir = join(work, "logs");
const bin = join(work, "vaquero");
const src = join(work, "src");
const pki = join(work, "pki");
let commit = "";
let failures = 0;

/** Runs a command in `cwd`; throws with its output unless it exits 0. */
function run(cwd: string, ...argv: string[]): string {
  const r = Bun.spawnSync(argv, { cwd, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stdout.toString()}${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** A CA, a certificate for the server (IP 127.0.0.1), a client certificate of it, and another CA's client certificate. */
function makePki(): void {
  mkdirSync(pki);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  for (const ca of ["ca", "other-ca"])
    run(pki, "openssl", "req", "-x509", ...ec, "-days", "2", "-subj", `/CN=${ca}`, "-keyout", `${ca}.key`, "-out", `${ca}.crt`);
  writeFileSync(join(pki, "server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  writeFileSync(join(pki, "client.ext"), "extendedKeyUsage=clientAuth\n");
  const issue = (name: string, cn: string, ca: string, ext: string) => {
    run(pki, "openssl", "req", ...ec, "-subj", `/CN=${cn}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
    run(
      pki,
      "openssl",
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      ext,
      "-out",
      `${name}.crt`,
    );
  };
  issue("server", "127.0.0.1", "ca", "server.ext");
  issue("client", "agent-s1", "ca", "client.ext");
  issue("other-client", "agent-s1", "other-ca", "client.ext");
}

const p = (f: string) => join(pki, f);
const clientTls = () => ({
  ca: readFileSync(p("ca.crt"), "utf8"),
  cert: readFileSync(p("client.crt"), "utf8"),
  key: readFileSync(p("client.key"), "utf8"),
});

/** A request to a TLS server as the test's operator: the test CA trusted, the client certificate shown. */
const api = (base: string, method: string, path: string, token: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    tls: clientTls(),
  });

interface ServerSite {
  agents: { name: string; staged?: string }[];
}
const agentsOf = async (base: string, token: string): Promise<ServerSite["agents"]> => {
  const r = await api(base, "GET", "/status/sites/s1", token);
  if (r.status !== 200) throw new Error(`/status/sites/s1: ${r.status}`);
  return ((await r.json()) as ServerSite).agents;
};

/** Starts a server on a free port with `extra` flags; resolves once its first release is stored. */
async function startServer(name: string, extra: string[]): Promise<{ proc: VaqueroProc; base: string; admin: string }> {
  const port = await freePort();
  const argv = [bin, "server", "--sot", src, "--data-dir", `data/${name}`, "--http-addr", `127.0.0.1:${port}`, ...extra];
  const proc = spawnVaquero(name, argv, { cwd: work, logDir });
  await until(async () => (proc.log().includes('"release stored"') ? true : undefined), `${name}'s first compile`);
  return { proc, base: `https://127.0.0.1:${port}`, admin: readFileSync(join(work, `data/${name}/admin.token`), "utf8").trim() };
}

/** Issues a token of `role` (site s1 for agents) and writes it to `<name>.token`. */
async function issue(base: string, admin: string, name: string, role: string): Promise<string> {
  const r = await api(base, "POST", "/tokens", admin, { name, role, ...(role === "agent" ? { site: "s1" } : {}) });
  expect(r.status).toBe(201);
  const token = ((await r.json()) as { token: string }).token;
  writeFileSync(join(work, `${name}.token`), `${token}\n`);
  return token;
}

/** Starts an agent of site s1 named `name` with `tlsFlags`; returns it and its own HTTP address. */
async function startAgent(base: string, name: string, tlsFlags: string[]): Promise<{ proc: VaqueroProc; http: string }> {
  const port = await freePort();
  const argv = [bin, "agent", "--server", base, "--site", "s1", "--token-file", `${name}.token`, "--data-dir", `data/${name}`];
  argv.push("--name", name, "--http-addr", `127.0.0.1:${port}`, "--tftp-addr", "127.0.0.1:0", "--ipxe-dir", "ipxe", "--poll-wait", "5");
  return { proc: spawnVaquero(name, [...argv, ...tlsFlags], { cwd: work, logDir }), http: `http://127.0.0.1:${port}` };
}

const agentRelease = async (http: string): Promise<string | undefined> => {
  const r = await fetch(`${http}/status`);
  if (r.status !== 200) throw new Error(`${http}/status: ${r.status}`);
  return ((await r.json()) as { release?: { id: string } }).release?.id;
};

/** curl's exit code and HTTP status (000 when nothing came back). */
function curl(...args: string[]): { code: number; status: string } {
  const r = Bun.spawnSync(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode ?? -1, status: r.stdout.toString() };
}

/** Runs the binary to its end (a flag or file error); its exit code and stderr. */
function vaquero(...args: string[]): { code: number; err: string } {
  const r = Bun.spawnSync([bin, ...args], { cwd: work, stdout: "pipe", stderr: "pipe", timeout: 30_000, env: { PATH: "/usr/bin:/bin" } });
  return { code: r.exitCode ?? -1, err: r.stderr.toString() };
}

beforeAll(() => {
  builtBinary();
  cpSync(join(ROOT, "dist/vaquero"), bin);
  mkdirSync(join(work, "ipxe"));
  cpSync(join(ROOT, "test/fixtures/_valid-base"), src, { recursive: true });
  const hosts = [1, 2].map(
    (i) => `  - name: node-${i}\n    workflow: node\n    interfaces: [{mac: "52:54:00:00:01:0${i}", subnet: prov, ipv4: 10.0.0.${10 + i}}]`,
  );
  writeFileSync(join(src, "sites/s1/cluster-a.yml"), `hosts:\n${hosts.join("\n")}\n`);
  commit = commitAll(src, "first");
  makePki();
  writeFileSync(join(work, "garbage.pem"), "not a certificate\n");
});

afterAll(async () => {
  await killAll();
  if (failures === 0) rmSync(work, { recursive: true, force: true });
  else console.error(`mtls test: logs and data kept in ${work}`);
});

/** Runs a step; a failure keeps the temp directory (and its logs) for a look. */
const step = (name: string, fn: () => Promise<void>) =>
  test(name, async () => {
    try {
      await fn();
    } catch (e) {
      failures++;
      throw e;
    }
  });

describe("TLS between agents and the server", () => {
  setDefaultTimeout(120_000);

  step("bad TLS flags and files: exit 2 naming the flag or file", async () => {
    const server = ["server", "--sot", src, "--data-dir", "data/flags", "--http-addr", "127.0.0.1:0"];
    const cases: [string[], string][] = [
      [[...server, "--tls-cert", p("server.crt")], "--tls-cert needs --tls-key"],
      [[...server, "--tls-key", p("server.key")], "--tls-key needs --tls-cert"],
      [[...server, "--client-ca", p("ca.crt")], "--client-ca (mTLS) needs --tls-cert"],
      [[...server, "--tls-cert", "garbage.pem", "--tls-key", p("server.key")], "--tls-cert garbage.pem holds no PEM certificate"],
      [[...server, "--tls-cert", p("server.crt"), "--tls-key", "missing.key"], "cannot read --tls-key missing.key: ENOENT"],
      [[...server, "--tls-cert", p("server.crt"), "--tls-key", p("client.key")], "is not the key of --tls-cert"],
      [[...server, "--tls-cert", p("server.crt"), "--tls-key", p("server.key"), "--client-ca", "garbage.pem"], "--client-ca garbage.pem"],
    ];
    writeFileSync(join(work, "flags.token"), "a-token\n");
    const agent = ["agent", "--site", "s1", "--token-file", "flags.token", "--data-dir", "data/flags-agent"];
    cases.push(
      [[...agent, "--server", "https://127.0.0.1:1", "--tls-cert", p("client.crt")], "--tls-cert needs --tls-key"],
      [[...agent, "--server", "http://127.0.0.1:1", "--ca-file", p("ca.crt")], "need an https:// --server"],
      [[...agent, "--server", "https://127.0.0.1:1", "--ca-file", "garbage.pem"], "--ca-file garbage.pem holds no PEM certificate"],
    );
    for (const [argv, want] of cases) {
      const r = vaquero(...argv);
      expect({ argv: argv.join(" "), code: r.code }).toEqual({ argv: argv.join(" "), code: 2 });
      expect(r.err).toContain(want);
    }
  });

  step("mTLS: the agent with a client certificate of the CA registers and switches to a prepared release", async () => {
    const s = await startServer("mtls", ["--tls-cert", p("server.crt"), "--tls-key", p("server.key"), "--client-ca", p("ca.crt")]);
    expect(s.proc.log()).toContain('"tls":"mtls"');
    const operator = await issue(s.base, s.admin, "operator", "operator");
    for (const name of ["good", "no-cert", "other-ca"]) await issue(s.base, s.admin, name, "agent");
    const good = await startAgent(s.base, "good", ["--ca-file", p("ca.crt"), "--tls-cert", p("client.crt"), "--tls-key", p("client.key")]);
    const noCert = await startAgent(s.base, "no-cert", ["--ca-file", p("ca.crt")]);
    const otherCa = await startAgent(s.base, "other-ca", [
      "--ca-file",
      p("ca.crt"),
      "--tls-cert",
      p("other-client.crt"),
      "--tls-key",
      p("other-client.key"),
    ]);
    await until(
      async () => ((await agentsOf(s.base, operator)).some((a) => a.name === "good") ? true : undefined),
      "the good agent registered",
    );
    // Refused in the handshake, each says so in one line naming the server.
    await until(
      async () => (noCert.proc.log().includes("the server requires a client certificate (mTLS)") ? true : undefined),
      "the agent without a certificate logging why",
    );
    await until(
      async () => (otherCa.proc.log().includes("does not accept this one") ? true : undefined),
      "the other CA's agent logging why",
    );
    for (const a of [noCert, otherCa]) expect(a.proc.log()).toContain(`agent link: ${s.base}/v1/agent/register`);
    const prep = await api(s.base, "POST", "/prepare", operator, { release: commit });
    expect(prep.status).toBe(202);
    await until(async () => ((await agentRelease(good.http)) === commit ? true : undefined), "the good agent on the release");
    await until(
      async () => ((await agentsOf(s.base, operator)).find((a) => a.name === "good")?.staged === commit ? true : undefined),
      "the server seeing the good agent staged",
    );
    // The refused agents still run, with nothing staged (503 on /status), and never reached the server.
    for (const a of [noCert, otherCa]) {
      expect((await fetch(`${a.http}/status`)).status).toBe(503);
      expect((await fetch(`${a.http}/live`)).status).toBe(200);
    }
    expect((await agentsOf(s.base, operator)).map((a) => a.name)).toEqual(["good"]);

    // Operators' tools need the certificate too; the token is still checked on top.
    const url = `${s.base}/status`;
    const auth = ["-H", `authorization: Bearer ${operator}`];
    expect(curl("--cacert", p("ca.crt"), ...auth, url).code).not.toBe(0);
    expect(curl("--cacert", p("ca.crt"), "--cert", p("other-client.crt"), "--key", p("other-client.key"), ...auth, url).code).not.toBe(0);
    expect(curl("--cacert", p("ca.crt"), "--cert", p("client.crt"), "--key", p("client.key"), ...auth, url)).toEqual({
      code: 0,
      status: "200",
    });
    expect(curl("--cacert", p("ca.crt"), "--cert", p("client.crt"), "--key", p("client.key"), url).status).toBe("401");
    // A token over plain HTTP to the TLS port gets no answer.
    const plain = curl(...auth, url.replace("https://", "http://"));
    expect(plain.status === "200").toBe(false);
    for (const a of [good, noCert, otherCa]) expect(await a.proc.kill("SIGTERM")).toBe(0);
    expect(await s.proc.kill("SIGTERM")).toBe(0);
  });

  step("TLS without a client CA: --ca-file trusts the server's certificate; without it the agent logs 'not trusted'", async () => {
    const s = await startServer("tls", ["--tls-cert", p("server.crt"), "--tls-key", p("server.key")]);
    expect(s.proc.log()).toContain('"tls":"https"');
    const operator = await issue(s.base, s.admin, "operator-tls", "operator");
    for (const name of ["trusting", "untrusting"]) await issue(s.base, s.admin, name, "agent");
    const trusting = await startAgent(s.base, "trusting", ["--ca-file", p("ca.crt")]);
    const untrusting = await startAgent(s.base, "untrusting", []);
    await until(
      async () => ((await agentsOf(s.base, operator)).some((a) => a.name === "trusting") ? true : undefined),
      "the trusting agent registered",
    );
    await until(
      async () => (untrusting.proc.log().includes("the server's certificate is not trusted (--ca-file)") ? true : undefined),
      "the agent without --ca-file logging why",
    );
    expect(untrusting.proc.log()).toContain(`agent link: ${s.base}/v1/agent/register`);
    expect((await agentsOf(s.base, operator)).map((a) => a.name)).toEqual(["trusting"]);
    // Without a client CA, a token is all an operator needs (the CA trusted).
    expect(curl("--cacert", p("ca.crt"), "-H", `authorization: Bearer ${operator}`, `${s.base}/status`)).toEqual({
      code: 0,
      status: "200",
    });
    for (const a of [trusting, untrusting]) expect(await a.proc.kill("SIGTERM")).toBe(0);
    expect(await s.proc.kill("SIGTERM")).toBe(0);
  });
});
