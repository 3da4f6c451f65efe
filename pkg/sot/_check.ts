/**
 * Renders every boot and unattended config of a range of a bundle's hosts and collects what fails. Used by the
 * compiler on the main thread and by the render worker on another core; it must stay a pure function of its
 * arguments (both sides get structured clones).
 */
import type { Bundle } from "./_bundle.ts";
import { createRenderer, RenderError, type RenderFailure, type TemplateRef } from "./_render.ts";

/** One rendering failure for one host. */
export interface RenderFault {
  failure: RenderFailure;
  template: TemplateRef;
  line: number;
  column: number;
  message: string;
  host: string;
}

/** What {@link checkHosts} found. */
export interface CheckResult {
  rendered: number;
  faults: RenderFault[];
}

/** Renders hosts `[from, to)` of `bundle` (in bundle order); any error other than a RenderError is thrown. */
export function checkHosts(bundle: Bundle, from: number, to: number): CheckResult {
  const renderer = createRenderer(bundle);
  const faults: RenderFault[] = [];
  let rendered = 0;
  for (const host of bundle.hosts.slice(from, to)) {
    const wf = bundle.workflows[host.workflow];
    if (!wf || host.interfaces.length === 0) continue;
    const iface = renderer.primary(host);
    rendered++;
    for (const bootId of wf.stages) {
      if (!bundle.boots[bootId] || !bundle.os[bundle.boots[bootId]?.os ?? ""]) continue;
      for (const step of [() => renderer.renderBoot(host, iface, bootId), () => renderer.checkConfig(host, iface, bootId)]) {
        try {
          step();
        } catch (e) {
          if (!(e instanceof RenderError)) throw e;
          faults.push({ failure: e.failure, template: e.template, line: e.line, column: e.column, message: e.message, host: host.name });
        }
      }
    }
  }
  return { rendered, faults };
}
