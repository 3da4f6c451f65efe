/** Ports for tests and benchmarks on loopback. */
import { createServer } from "node:net";

/** A TCP port free on 127.0.0.1 a moment ago (the probe socket is closed again before it is returned). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
