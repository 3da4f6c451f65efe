/**
 * Rendering of a bundle's templates for one host: kernel, initrds and command line of a boot, and its
 * unattended config. Pure: the same (bundle, host, interface, boot) always gives the same bytes. Liquid runs in
 * strict mode (undefined variables and filters are errors); templates are parsed once per renderer.
 */
import { Liquid, type Template } from "liquidjs";
import { VaqueroError } from "../../internal/errors/index.ts";
import type { Bundle, BundleHost, CmdEntry } from "./_bundle.ts";
import { checkIgnition } from "./_ignition.ts";
import type { NicDoc } from "./_schema.ts";
import { parseYamlFile } from "./_yaml.ts";

/** Longest kernel command line accepted, in bytes. */
export const MAX_CMDLINE_BYTES = 4096;

/** Which template failed: an os or boot field, an unattended template or a snippet. */
export interface TemplateRef {
  kind: "os" | "boot" | "template" | "snippet";
  /** os or boot id, or `<type>/<name>` of a template or snippet. */
  id: string;
  /** For os and boot fields: `kernel`, `initrd.<i>`, `cmdline.<key>`, or `cmdline` for the whole line. */
  field?: string;
}

/** Why rendering failed. */
export type RenderFailure = "syntax" | "undefined" | "render" | "ignition-yaml" | "ignition" | "cmdline-too-long";

/** A rendering failure that points into the template that caused it. */
export class RenderError extends VaqueroError {
  constructor(
    readonly failure: RenderFailure,
    readonly template: TemplateRef,
    /** 1-based line and column inside the template text. */
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(`RENDER_${failure.toUpperCase().replace(/-/g, "_")}`, message);
  }
}

/** Kernel, initrds (URLs) and command line of one boot for one host. */
export interface RenderedBoot {
  boot: string;
  kernel: string;
  initrd: string[];
  cmdline: string;
}

/** A rendered unattended config. */
export interface RenderedConfig {
  type: string;
  contentType: string;
  body: string;
}

/** Renders a bundle's templates. */
export interface Renderer {
  /** The host and interface owning a MAC (lower-case, colons), if the site has it. */
  lookup(mac: string): { host: BundleHost; iface: NicDoc } | undefined;
  /** The host's primary interface: the one marked primary, else the first. */
  primary(host: BundleHost): NicDoc;
  /** Kernel, initrds and command line of `bootId` for a host booting on `iface`. */
  renderBoot(host: BundleHost, iface: NicDoc, bootId: string): RenderedBoot;
  /** The unattended config of `bootId`, or undefined when the boot has none. */
  renderConfig(host: BundleHost, iface: NicDoc, bootId: string): RenderedConfig | undefined;
  /** Renders and checks the config like {@link renderConfig}, without serialising it (validation). */
  checkConfig(host: BundleHost, iface: NicDoc, bootId: string): void;
}

const CONTENT_TYPES: Record<string, string> = {
  ignition: "application/vnd.coreos.ignition+json",
  "cloud-config": "text/cloud-config; charset=utf-8",
  kickstart: "text/plain; charset=utf-8",
  preseed: "text/plain; charset=utf-8",
  untyped: "text/plain; charset=utf-8",
};

/** An absolute URL for a kernel or initrd: URLs stay, asset paths go under `<agent>/assets/`. */
export function assetUrl(agentUrl: string, value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  return `${agentUrl}/assets/${value.replace(/^\/+/, "")}`;
}

/** Creates a renderer for one bundle. */
export function createRenderer(bundle: Bundle): Renderer {
  const byMac = new Map<string, { host: BundleHost; iface: NicDoc }>();
  for (const host of bundle.hosts) for (const iface of host.interfaces) byMac.set(iface.mac, { host, iface });
  const subnets = new Map(bundle.site.subnets.map((s) => [s.id, s]));
  const engines = new Map<string, Liquid>();
  const parsed = new Map<string, Template[]>();
  const sourceOf = new Map<string, TemplateRef>();
  for (const [k, text] of Object.entries(bundle.snippets)) sourceOf.set(text, { kind: "snippet", id: k });

  const engineFor = (type: string): Liquid => {
    let e = engines.get(type);
    if (e) return e;
    const prefix = `${type}/`;
    const find = (name: string): string | undefined => {
      const exact = bundle.snippets[prefix + name];
      if (exact !== undefined) return prefix + name;
      return Object.keys(bundle.snippets).find((k) => k.startsWith(prefix) && k.slice(prefix.length).replace(/\.[^./]+$/, "") === name);
    };
    const read = (f: string): string => {
      const k = find(f);
      if (k === undefined) throw new Error(`snippet "${f}" not found in assets/${type}/snippets/`);
      return bundle.snippets[k] ?? "";
    };
    e = new Liquid({
      strictVariables: true,
      strictFilters: true,
      ownPropertyOnly: true,
      relativeReference: false,
      root: [""],
      extname: "",
      cache: true,
      fs: {
        exists: async (f) => find(f) !== undefined,
        existsSync: (f) => find(f) !== undefined,
        readFile: async (f) => read(f),
        readFileSync: read,
        resolve: (_dir, file) => file,
      },
    });
    engines.set(type, e);
    return e;
  };

  const render = (ref: TemplateRef, type: string, text: string, ctx: object): string => {
    const key = `${type}\u0000${text}`;
    try {
      let tpl = parsed.get(key);
      if (!tpl) {
        tpl = engineFor(type).parse(text);
        parsed.set(key, tpl);
      }
      // A shallow copy: {% increment %} writes into the top-level scope it is given.
      return engineFor(type).renderSync(tpl, { ...ctx }) as string;
    } catch (e) {
      throw toRenderError(e, ref, text, sourceOf);
    }
  };

  const primary = (host: BundleHost): NicDoc => host.interfaces.find((i) => i.primary) ?? (host.interfaces[0] as NicDoc);

  // The last context built: a boot and its config are rendered one after the other for the same machine.
  let last: { host: BundleHost; iface: NicDoc; bootId: string; ctx: Record<string, unknown> } | undefined;
  const context = (host: BundleHost, iface: NicDoc, bootId: string): Record<string, unknown> => {
    if (last && last.host === host && last.iface === iface && last.bootId === bootId) return last.ctx;
    const ctx = buildContext(host, iface, bootId);
    last = { host, iface, bootId, ctx };
    return ctx;
  };
  const buildContext = (host: BundleHost, iface: NicDoc, bootId: string): Record<string, unknown> => {
    const boot = bundle.boots[bootId];
    if (!boot) throw new VaqueroError("BOOT_UNKNOWN", `render: boot "${bootId}" is not in site "${bundle.site.id}"`);
    const os = bundle.os[boot.os];
    const withSubnet = (i: NicDoc) => ({ ...i, subnet: subnets.get(i.subnet) ?? i.subnet });
    return {
      env: bundle.site,
      host: { ...host, primary: withSubnet(primary(host)) },
      interface: withSubnet(iface),
      boot: {
        id: bootId,
        ...boot,
        os: { id: boot.os, ...os },
        config_url: `${bundle.site.agent.url}/config/${iface.mac}?boot=${encodeURIComponent(bootId)}`,
      },
      md: deepMerge(deepMerge(bundle.site.metadata, boot.metadata), host.metadata),
    };
  };

  const cmdline = (entries: CmdEntry[], kind: "os" | "boot", id: string, ctx: object): string[] =>
    entries.map(([k, v]) => (v === null ? k : `${k}=${render({ kind, id, field: `cmdline.${k}` }, "", v, ctx)}`));

  return {
    lookup: (mac) => byMac.get(mac),
    primary,
    renderBoot(host, iface, bootId) {
      const ctx = context(host, iface, bootId);
      const boot = bundle.boots[bootId];
      const os = boot ? bundle.os[boot.os] : undefined;
      if (!boot || !os) throw new VaqueroError("BOOT_UNKNOWN", `render: boot "${bootId}" has no os in site "${bundle.site.id}"`);
      const url = bundle.site.agent.url;
      const kernel = assetUrl(url, render({ kind: "os", id: boot.os, field: "kernel" }, "", os.kernel, ctx).trim());
      const initrd = os.initrd.map((t, i) => assetUrl(url, render({ kind: "os", id: boot.os, field: `initrd.${i}` }, "", t, ctx).trim()));
      const parts = [...cmdline(os.cmdline, "os", boot.os, ctx), ...cmdline(boot.cmdline, "boot", bootId, ctx)];
      for (const i of initrd)
        parts.push(
          `initrd=${
            i
              .replace(/[?#].*$/, "")
              .split("/")
              .pop() ?? ""
          }`,
        );
      const line = parts.join(" ");
      const bytes = Buffer.byteLength(line);
      if (bytes > MAX_CMDLINE_BYTES) {
        const blame: TemplateRef =
          boot.cmdline.length > 0 ? { kind: "boot", id: bootId, field: "cmdline" } : { kind: "os", id: boot.os, field: "cmdline" };
        throw new RenderError(
          "cmdline-too-long",
          blame,
          1,
          1,
          `kernel command line of boot "${bootId}" for host "${host.name}" is ${bytes} bytes, limit ${MAX_CMDLINE_BYTES}`,
        );
      }
      return { boot: bootId, kernel, initrd, cmdline: line };
    },
    renderConfig: (host, iface, bootId) => config(host, iface, bootId, true),
    checkConfig: (host, iface, bootId) => void config(host, iface, bootId, false),
  };

  function config(host: BundleHost, iface: NicDoc, bootId: string, serialise: boolean): RenderedConfig | undefined {
    const boot = bundle.boots[bootId];
    if (!boot?.unattended) return undefined;
    const { type, template } = boot.unattended;
    const ref: TemplateRef = { kind: "template", id: template };
    const text = render(ref, type, bundle.templates[template] ?? "", context(host, iface, bootId));
    const contentType = CONTENT_TYPES[type] ?? "text/plain; charset=utf-8";
    if (type !== "ignition") return { type, contentType, body: text };
    // JSON is YAML: one parser for both, with positions for errors.
    const parsed = parseYamlFile(text);
    const problem = parsed.problems[0];
    if (problem || parsed.docs.length !== 1) {
      const pos = problem?.pos ?? parsed.docs[1]?.start ?? { line: 1, column: 1 };
      const why = problem ? problem.message : `${parsed.docs.length} documents, want exactly one`;
      throw new RenderError(
        "ignition-yaml",
        ref,
        pos.line,
        pos.column,
        `Ignition asset assets/${template} rendered for host "${host.name}" does not parse: ${why}`,
      );
    }
    const value = parsed.docs[0]?.value;
    const problems = checkIgnition(value);
    const first = problems[0];
    if (first) {
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
      const pos = renderedPosition(text, first.path);
      throw new RenderError(
        "ignition",
        ref,
        pos.line,
        pos.column,
        `Ignition asset assets/${template} rendered for host "${host.name}" is not valid Ignition: ${first.path || "/"}: ${first.message}${more}`,
      );
    }
    return { type, contentType, body: serialise ? JSON.stringify(value) : "" };
  }
}

/**
 * Where a JSON pointer lands in rendered YAML or JSON text. Templates usually render line for line, so this is
 * the template line too, unless a tag above it expanded to several lines.
 */
function renderedPosition(text: string, pointer: string): { line: number; column: number } {
  const doc = parseYamlFile(text).docs[0];
  if (!doc) return { line: 1, column: 1 };
  const path = pointer
    .split("/")
    .slice(1)
    .map((seg) => {
      const k = seg.replace(/~1/g, "/").replace(/~0/g, "~");
      return /^\d+$/.test(k) ? Number(k) : k;
    });
  return doc.at(path);
}

function toRenderError(e: unknown, ref: TemplateRef, text: string, sourceOf: Map<string, TemplateRef>): RenderError {
  const err = e as { name?: string; message?: string; token?: { input?: string; getPosition?: () => [number, number] } };
  const [line, column] = err.token?.getPosition?.() ?? [1, 1];
  const input = err.token?.input;
  const where = input !== undefined && input !== text ? (sourceOf.get(input) ?? ref) : ref;
  const message = (err.message ?? String(e)).replace(/, (file:\S+, )?line:\d+, col:\d+$/, "");
  const failure: RenderFailure =
    err.name === "UndefinedVariableError"
      ? "undefined"
      : err.name === "ParseError" || err.name === "TokenizationError"
        ? "syntax"
        : "render";
  return new RenderError(failure, where, line, column, message);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Merges `over` onto `base`: nested maps merge, everything else is replaced. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}
