import { beforeAll, describe, expect, test } from "bun:test";
import { silentLogger } from "../../internal/log/index.ts";
import { baseSot, memTree } from "../../test/_helpers/tree.ts";
import { compileTree } from "../sot/index.ts";
import { basesKept } from "./_base.ts";
import { createAgentApp, MAX_BASES, plainHost, requestBase, type StagedSite, stageSite } from "./index.ts";

const MAC = "52:54:00:00:00:01";
const AGENT = "http://10.0.0.2:8080";
let site: StagedSite;
let app: ReturnType<typeof createAgentApp>;

beforeAll(async () => {
  const files = baseSot();
  // A config that shows env.agent.url too, next to boot.config_url in the kernel command line.
  files["assets/ignition/node.yml"] = (files["assets/ignition/node.yml"] ?? "").replace(
    '      contents: {source: "data:,{{ host.name }}"}\n',
    '      contents: {source: "data:,{{ host.name }}"}\n    - path: /etc/motd\n      contents: {source: "{{ env.agent.url }}/assets/motd"}\n',
  );
  const r = await compileTree(memTree(files));
  expect(r.findings.filter((f) => f.severity === "error")).toEqual([]);
  const bundle = r.sites.get("s1")?.bundle;
  if (!bundle) throw new Error("no bundle");
  site = stageSite(bundle, "dir-test", () => new Date(Date.UTC(2026, 0, 1)));
  app = createAgentApp({ site: () => site, log: silentLogger() });
});

const get = (path: string, host?: string) =>
  app.handle(new Request(`http://10.0.0.2:8080${path}`, host === undefined ? {} : { headers: { host } }));

describe("plainHost", () => {
  const good: [string, string][] = [
    ["10.0.0.3", "10.0.0.3"],
    ["10.0.0.3:8080", "10.0.0.3:8080"],
    ["Agent-1.Lab.Example", "agent-1.lab.example"],
    ["agent.lab.example.:80", "agent.lab.example.:80"],
    ["[fd00::2]:8080", "[fd00::2]:8080"],
    ["localhost", "localhost"],
  ];
  for (const [value, want] of good) test(`accepts ${value}`, () => expect(plainHost(value)).toBe(want));
  const bad: [string, string][] = [
    ["a newline", "10.0.0.3\n#!ipxe"],
    ["a carriage return", "10.0.0.3\r\nkernel http://evil/x"],
    ["a space", "10.0.0.3 chain"],
    ["iPXE text", "#!ipxe"],
    ["a fragment", "10.0.0.3#x"],
    ["user info", "user@10.0.0.3"],
    ["a path", "10.0.0.3/x"],
    ["a query", "10.0.0.3?x"],
    ["settings expansion", "${net0/ip}"],
    ["a very long name", `${"a".repeat(63)}.`.repeat(5)],
    ["a 10 KB value", "a".repeat(10_000)],
    ["an empty value", ""],
    ["a port out of range", "10.0.0.3:65536"],
    ["port 0", "10.0.0.3:0"],
    ["an empty port", "10.0.0.3:"],
    ["a bad IPv4", "10.0.0.256"],
    ["an unbracketed IPv6", "fd00::2"],
    ["a bad IPv6", "[fd00::zz]"],
    ["a label ending in -", "agent-.lab"],
    ["a quote", '10.0.0.3"'],
  ];
  for (const [name, value] of bad) test(`refuses ${name}`, () => expect(plainHost(value)).toBeUndefined());
  test("requestBase: Host when plain, else the fallback; an agent.url with a path always wins", () => {
    const req = (host: string, url = "http://10.0.0.2:8080/boot.ipxe") => new Request(url, { headers: { host } });
    expect(requestBase(req("10.0.0.3:8080"), AGENT)).toBe("http://10.0.0.3:8080");
    expect(requestBase(req("10.0.0.3:8443", "https://10.0.0.2:8443/boot.ipxe"), AGENT)).toBe("https://10.0.0.3:8443");
    expect(requestBase(req("evil #!ipxe"), AGENT)).toBe(AGENT);
    expect(requestBase(req("evil #!ipxe"), undefined)).toBeUndefined();
    expect(requestBase(req("10.0.0.3:8080"), "http://proxy.example/vaquero")).toBe("http://proxy.example/vaquero");
    expect(requestBase(new Request("http://10.0.0.4:8080/boot.ipxe"), AGENT)).toBe("http://10.0.0.4:8080");
  });
});

describe("URLs on the address a machine asked on", () => {
  test("first contact, script and config use the Host of the request", async () => {
    expect(await (await get("/boot.ipxe", "10.0.0.3:8080")).text()).toContain("chain http://10.0.0.3:8080/boot.ipxe?mac=");
    const script = await (await get(`/boot.ipxe?mac=${MAC}`, "10.0.0.3:8080")).text();
    expect(script).toContain("ignition.config.url=http://10.0.0.3:8080/config/52:54:00:00:00:01?boot=install");
    expect(script).toContain("initrd http://10.0.0.3:8080/assets/flatcar/");
    expect(script).not.toContain("10.0.0.2");
    const config = await (await get(`/config/${MAC}?boot=install`, "10.0.0.3:8080")).text();
    expect(config).toContain('"source":"http://10.0.0.3:8080/assets/motd"');
  });
  test("the site's agent.url is served as before", async () => {
    const script = await (await get(`/boot.ipxe?mac=${MAC}`, "10.0.0.2:8080")).text();
    expect(script).toContain("ignition.config.url=http://10.0.0.2:8080/config/");
    const config = await (await get(`/config/${MAC}?boot=install`, "10.0.0.2:8080")).text();
    expect(config).toContain('"source":"http://10.0.0.2:8080/assets/motd"');
  });
  const hostile: [string, string][] = [
    ["spaces", "10.0.0.9 chain http://evil/x"],
    ["iPXE text", "#!ipxe"],
    ["a 10 KB value", "a".repeat(10_000)],
    ["a settings expansion", "${net0/ip}:8080"],
  ];
  for (const [name, host] of hostile) {
    test(`a Host with ${name} falls back to agent.url`, async () => {
      const first = await (await get("/boot.ipxe", host)).text();
      expect(first).toBe(`#!ipxe\nchain ${AGENT}/boot.ipxe?mac=\${mac:hexhyp}&uuid=\${uuid}&arch=\${buildarch}\n`);
      const script = await (await get(`/boot.ipxe?mac=${MAC}`, host)).text();
      expect(script).toContain(`ignition.config.url=${AGENT}/config/`);
      expect(script).not.toContain("evil");
      const config = await (await get(`/config/${MAC}?boot=install`, host)).text();
      expect(config).toContain(`"source":"${AGENT}/assets/motd"`);
    });
  }
  test("a Host with a newline never reaches the app (the Request cannot even be built)", () => {
    expect(() => new Request("http://10.0.0.2:8080/boot.ipxe", { headers: { host: "10.0.0.3\n#!ipxe" } })).toThrow();
  });
  test(`at most ${MAX_BASES} bases are kept per staged site; old ones are rendered again when asked`, async () => {
    for (let i = 0; i < MAX_BASES + 5; i++) {
      const text = await (await get(`/boot.ipxe?mac=${MAC}`, `10.0.1.${i}:8080`)).text();
      expect(text).toContain(`http://10.0.1.${i}:8080/config/`);
      expect(basesKept(site)).toBeLessThanOrEqual(MAX_BASES);
    }
    expect(basesKept(site)).toBe(MAX_BASES);
    expect(await (await get(`/boot.ipxe?mac=${MAC}`, "10.0.1.0:8080")).text()).toContain("http://10.0.1.0:8080/config/");
  });
});
