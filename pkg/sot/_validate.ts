/**
 * Cross-document rules of SOT.md "Validation": references, uniqueness, addressing, secrets, consistency and
 * the unused-object warnings. Works on a {@link Model}; rendering is checked separately.
 */
import { inCidr, ipv4ToInt, normalizeMac, parseCidr } from "../../internal/net/index.ts";
import { type Finding, type FindingCode, finding, type Where } from "./_findings.ts";
import { fileStart, type Model, textWhere, whereAt } from "./_load.ts";
import { type NicDoc, UNATTENDED_FAMILIES } from "./_schema.ts";
import { scanSecrets } from "./_secrets.ts";
import { didYouMean } from "./_suggest.ts";
import type { YamlDoc } from "./_yaml.ts";

/** Include or render tags naming a snippet: `{% include "name" %}`. */
export const INCLUDE_RE = /\{%-?\s*(?:include|render)\s+["']([^"']+)["']/g;

/** Resolves `use` (or an include name) among names, exactly or by dropping the extension. */
export function resolveName(wanted: string, names: Iterable<string>): string | undefined {
  let byStem: string | undefined;
  for (const n of names) {
    if (n === wanted) return n;
    if (n.replace(/\.[^./]+$/, "") === wanted) byStem = n;
  }
  return byStem;
}

/** Runs every cross-document rule. */
export function validateModel(model: Model): Finding[] {
  const out: Finding[] = [];
  const add = (code: FindingCode, where: Where, message: string): void => {
    out.push(finding(code, where, message));
  };
  const usedOs = new Set<string>();
  const usedBoots = new Set<string>();
  const usedAssets = new Set<string>();

  // boots → os, assets, family
  for (const [id, b] of model.boots) {
    const os = model.os.get(b.value.os);
    if (os) usedOs.add(os.value.id);
    else if (!model.brokenIds.os.has(b.value.os)) {
      add(
        "REF_UNKNOWN_OS",
        whereAt(b.file, b.doc, ["os"]),
        `boot "${id}" names os "${b.value.os}", which does not exist${didYouMean(b.value.os, model.os.keys())}`,
      );
    }
    const u = b.value.unattended;
    if (u) {
      const names = [...model.assets.values()].filter((a) => a.type === u.type).map((a) => a.name);
      const name = resolveName(u.use, names);
      if (name) usedAssets.add(`${u.type}/${name}`);
      else {
        add(
          "REF_UNKNOWN_ASSET",
          whereAt(b.file, b.doc, ["unattended", "use"]),
          `boot "${id}" uses asset "${u.use}", which is not in assets/${u.type}/${didYouMean(u.use, names)}`,
        );
      }
      const families = UNATTENDED_FAMILIES[u.type];
      if (os && families && !families.includes(os.value.family)) {
        add(
          "UNATTENDED_FAMILY",
          whereAt(b.file, b.doc, ["unattended", "type"]),
          `boot "${id}": unattended type ${u.type} does not suit os "${os.value.id}" of family ${os.value.family} (want one of ${families.join(", ")})`,
        );
      }
    }
  }

  // workflows → boots, after, cycles
  for (const [id, w] of model.workflows) {
    w.value.stages.forEach((s, i) => {
      if (model.boots.has(s)) usedBoots.add(s);
      else if (!model.brokenIds.boot.has(s)) {
        add(
          "REF_UNKNOWN_BOOT",
          whereAt(w.file, w.doc, ["stages", i]),
          `workflow "${id}" stage ${i + 1} names boot "${s}", which does not exist${didYouMean(s, model.boots.keys())}`,
        );
      }
    });
    (w.value.policy?.after ?? []).forEach((a, i) => {
      if (!model.workflows.has(a) && !model.brokenIds.workflow.has(a)) {
        add(
          "REF_UNKNOWN_WORKFLOW",
          whereAt(w.file, w.doc, ["policy", "after", i]),
          `workflow "${id}" waits for workflow "${a}", which does not exist${didYouMean(a, model.workflows.keys())}`,
        );
      }
    });
  }
  reportCycles(model, add);

  // snippets and includes
  const usedSnippets = new Set<string>();
  for (const a of [...model.assets.values(), ...model.snippets.values()]) {
    const names = [...model.snippets.values()].filter((s) => s.type === a.type).map((s) => s.name);
    for (const m of a.text.matchAll(INCLUDE_RE)) {
      const wanted = m[1] ?? "";
      const name = resolveName(wanted, names);
      if (name) usedSnippets.add(`${a.type}/${name}`);
      else {
        add(
          "REF_UNKNOWN_SNIPPET",
          textWhere(a.file, a.text, m.index ?? 0),
          `${a.file} includes snippet "${wanted}", which is not in assets/${a.type}/snippets/${didYouMean(wanted, names)}`,
        );
      }
    }
  }

  // sites
  for (const site of model.sites.values()) {
    const env = site.env;
    const subnets = new Map<string, { cidr: ReturnType<typeof parseCidr>; index: number }>();
    if (env) {
      env.value.subnets.forEach((s, i) => {
        const path = ["subnets", i];
        if (subnets.has(s.id)) {
          add("DUPLICATE_ID", whereAt(env.file, env.doc, [...path, "id"]), `site "${site.id}": subnet "${s.id}" is declared twice`);
          return;
        }
        const cidr = parseCidr(s.cidr);
        subnets.set(s.id, { cidr, index: i });
        if (!cidr) return;
        if (cidr.hostBits) {
          add(
            "CIDR_INVALID",
            whereAt(env.file, env.doc, [...path, "cidr"]),
            `site "${site.id}" subnet "${s.id}": ${s.cidr} has host bits set`,
          );
        }
        const gw = s.gateway ? ipv4ToInt(s.gateway) : undefined;
        if (gw !== undefined && !inCidr(gw, cidr)) {
          add(
            "GATEWAY_OUTSIDE_SUBNET",
            whereAt(env.file, env.doc, [...path, "gateway"]),
            `site "${site.id}" subnet "${s.id}": gateway ${s.gateway} is outside ${s.cidr}`,
          );
        }
        if (s.pool) {
          const a = ipv4ToInt(s.pool.start) ?? 0;
          const b = ipv4ToInt(s.pool.end) ?? 0;
          if (a > b || !inCidr(a, cidr) || !inCidr(b, cidr)) {
            add(
              "POOL_INVALID",
              whereAt(env.file, env.doc, [...path, "pool"]),
              `site "${site.id}" subnet "${s.id}": pool ${s.pool.start}–${s.pool.end} ${a > b ? "is reversed" : `leaves ${s.cidr}`}`,
            );
          }
        }
      });
    }
    const poolClashes = new Map<number, string[]>();
    const seenName = new Map<string, string>();
    const seenMac = new Map<string, string>();
    const seenIp = new Map<string, string>();
    const seenHostname = new Map<string, string>();
    for (const h of site.hosts) {
      const host = h.value;
      const at = (...p: (string | number)[]): Where => whereAt(h.file, h.doc, [...h.base, ...p]);
      if (seenName.has(host.name)) {
        add("DUPLICATE_ID", at("name"), `site "${site.id}": host "${host.name}" is declared twice; first in ${seenName.get(host.name)}`);
        continue;
      }
      seenName.set(host.name, h.file);
      if (!model.workflows.has(host.workflow) && !model.brokenIds.workflow.has(host.workflow)) {
        add(
          "REF_UNKNOWN_WORKFLOW",
          at("workflow"),
          `host "${host.name}" (site "${site.id}") names workflow "${host.workflow}", which does not exist${didYouMean(host.workflow, model.workflows.keys())}`,
        );
      }
      let primaries = 0;
      let nics = 0;
      let hasBmc = false;
      host.interfaces.forEach((ifc, i) => {
        const isBmc = "type" in ifc;
        if (isBmc && hasBmc) {
          add("SCHEMA_TYPE", at("interfaces", i), `host "${host.name}" has a second BMC; a host has one (the first is used)`);
        }
        if (isBmc) hasBmc = true;
        else {
          nics++;
          if ((ifc as NicDoc).primary) {
            primaries++;
            if (primaries === 2)
              add("INTERFACE_PRIMARY", at("interfaces", i, "primary"), `host "${host.name}": more than one interface is marked primary`);
          }
        }
        const mac = ifc.mac ? normalizeMac(ifc.mac) : undefined;
        if (mac) {
          const prev = seenMac.get(mac);
          if (prev)
            add(
              "DUPLICATE_MAC",
              at("interfaces", i, "mac"),
              `site "${site.id}": MAC ${mac} of host "${host.name}" is already used by ${prev}`,
            );
          else seenMac.set(mac, `host "${host.name}"`);
        }
        const prevIp = seenIp.get(ifc.ipv4);
        if (prevIp)
          add(
            "DUPLICATE_IPV4",
            at("interfaces", i, "ipv4"),
            `site "${site.id}": IPv4 ${ifc.ipv4} of host "${host.name}" is already used by ${prevIp}`,
          );
        else seenIp.set(ifc.ipv4, `host "${host.name}"`);
        if (!isBmc && (ifc as NicDoc).hostname) {
          const hn = ((ifc as NicDoc).hostname ?? "").toLowerCase();
          const prev = seenHostname.get(hn);
          if (prev)
            add(
              "DUPLICATE_HOSTNAME",
              at("interfaces", i, "hostname"),
              `site "${site.id}": hostname ${hn} of host "${host.name}" is already used by ${prev}`,
            );
          else seenHostname.set(hn, `host "${host.name}"`);
        }
        if (!ifc.subnet) return;
        const sn = subnets.get(ifc.subnet);
        if (!sn) {
          if (env)
            add(
              "REF_UNKNOWN_SUBNET",
              at("interfaces", i, "subnet"),
              `host "${host.name}" names subnet "${ifc.subnet}", which site "${site.id}" does not have${didYouMean(ifc.subnet, subnets.keys())}`,
            );
          return;
        }
        const ip = ipv4ToInt(ifc.ipv4);
        if (!sn.cidr || ip === undefined) return;
        const subnet = env?.value.subnets[sn.index];
        if (!inCidr(ip, sn.cidr)) {
          add(
            "ADDR_OUTSIDE_SUBNET",
            at("interfaces", i, "ipv4"),
            `host "${host.name}": ${ifc.ipv4} is outside subnet "${ifc.subnet}" (${subnet?.cidr})`,
          );
        } else if (subnet?.pool) {
          const a = ipv4ToInt(subnet.pool.start) ?? 0;
          const b = ipv4ToInt(subnet.pool.end) ?? 0;
          if (ip >= a && ip <= b) {
            const list = poolClashes.get(sn.index) ?? [];
            list.push(`"${host.name}" (${ifc.ipv4})`);
            poolClashes.set(sn.index, list);
          }
        }
      });
      if (nics === 0) add("INTERFACE_PRIMARY", at("interfaces"), `host "${host.name}" has no network interface to boot from (only a BMC)`);
      if (!hasBmc)
        add("HOST_NO_BMC", at("name"), `host "${host.name}" (site "${site.id}") has no BMC: it cannot be re-provisioned automatically`);
    }
    for (const [index, hosts] of poolClashes) {
      const subnet = env?.value.subnets[index];
      if (!env || !subnet?.pool) continue;
      const shown = hosts.slice(0, 5).join(", ") + (hosts.length > 5 ? ` and ${hosts.length - 5} more` : "");
      add(
        "POOL_OVERLAPS_RESERVATION",
        whereAt(env.file, env.doc, ["subnets", index, "pool"]),
        `site "${site.id}" subnet "${subnet.id}": pool ${subnet.pool.start}–${subnet.pool.end} holds reserved addresses of hosts ${shown}`,
      );
    }
  }

  scanSecrets(model, add);

  // unused objects
  for (const id of model.brokenRefs.os) usedOs.add(id);
  for (const id of model.brokenRefs.boot) usedBoots.add(id);
  for (const key of model.brokenRefs.asset) {
    const [type, ...rest] = key.split("/");
    const name = resolveName(
      rest.join("/"),
      [...model.assets.values()].filter((a) => a.type === type).map((a) => a.name),
    );
    if (name) usedAssets.add(`${type}/${name}`);
  }
  for (const [id, o] of model.os) {
    if (!usedOs.has(id)) add("UNUSED_OS", whereAt(o.file, o.doc, ["id"]), `os "${id}" is not used by any boot`);
  }
  for (const [id, b] of model.boots) {
    if (!usedBoots.has(id)) add("UNUSED_BOOT", whereAt(b.file, b.doc, ["id"]), `boot "${id}" is not a stage of any workflow`);
  }
  for (const [key, a] of model.assets) {
    if (!usedAssets.has(key)) add("UNUSED_ASSET", fileStart(a.file), `${a.file} is not used by any boot`);
  }
  for (const [key, s] of model.snippets) {
    if (!usedSnippets.has(key)) add("UNUSED_ASSET", fileStart(s.file), `${s.file} is not included by any template`);
  }
  return out;
}

function reportCycles(model: Model, add: (code: FindingCode, where: Where, message: string) => void): void {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (id: string): void => {
    state.set(id, 1);
    stack.push(id);
    const w = model.workflows.get(id);
    (w?.value.policy?.after ?? []).forEach((next, i) => {
      if (!model.workflows.has(next)) return;
      if (state.get(next) === 1) {
        const cycle = [...stack.slice(stack.indexOf(next)), next];
        const key = [...cycle].sort().join(",");
        if (w && !reported.has(key)) {
          reported.add(key);
          add(
            "WORKFLOW_CYCLE",
            whereAt(w.file, w.doc, ["policy", "after", i]),
            `workflows wait for each other in a cycle: ${cycle.join(" → ")}`,
          );
        }
      } else if (!state.has(next)) visit(next);
    });
    stack.pop();
    state.set(id, 2);
  };
  for (const id of [...model.workflows.keys()].sort()) if (!state.has(id)) visit(id);
}

/** Reports cmdline values that are nested maps (SOT.md boot translation: the original ignored them silently). */
export function validateCmdlines(model: Model): Finding[] {
  const out: Finding[] = [];
  const check = (kind: "os" | "boot", id: string, file: string, doc: YamlDoc, cmdline: unknown): void => {
    const maps = Array.isArray(cmdline)
      ? cmdline.map((m, i) => [m, ["cmdline", i]] as const)
      : cmdline
        ? [[cmdline, ["cmdline"]] as const]
        : [];
    for (const [m, base] of maps) {
      for (const [k, val] of Object.entries(m as Record<string, unknown>)) {
        const vals = Array.isArray(val) ? val.map((x, j) => [x, [...base, k, j]] as const) : [[val, [...base, k]] as const];
        for (const [x, path] of vals) {
          if (typeof x === "object" && x !== null) {
            out.push(
              finding(
                "CMDLINE_NESTED",
                whereAt(file, doc, path),
                `${kind} "${id}": cmdline "${k}" holds a ${Array.isArray(x) ? "nested list" : "map"}; values are strings, numbers, "" or a list of them`,
              ),
            );
          }
        }
      }
    }
  };
  for (const [id, o] of model.os) check("os", id, o.file, o.doc, o.value.cmdline);
  for (const [id, b] of model.boots) check("boot", id, b.file, b.doc, b.value.cmdline);
  return out;
}
