/**
 * Worker entry of the render pool: renders one range of a bundle's hosts per message. Listed as a second
 * entry point of the compiled binary (see package.json "build").
 */
import type { Bundle } from "./_bundle.ts";
import { checkHosts } from "./_check.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ id: number; bundle: Bundle; from: number; to: number }>) => {
  const { id, bundle, from, to } = event.data;
  try {
    self.postMessage({ id, result: checkHosts(bundle, from, to) });
  } catch (e) {
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
};
