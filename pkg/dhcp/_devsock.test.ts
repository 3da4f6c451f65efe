import { afterEach, describe, expect, test } from "bun:test";
import { createSocket } from "node:dgram";
import { bindToDevice, type DeviceSocket, type Peer } from "./_devsock.ts";

/** A free UDP port on loopback: bind 0, read it, let it go. */
async function freePort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const open: DeviceSocket[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe("bindToDevice", () => {
  test("hears datagrams that arrive on its interface, with their source, in order", async () => {
    const port = await freePort();
    const got: [string, Peer][] = [];
    let notify = (): void => {};
    const three = new Promise<void>((resolve) => {
      notify = () => got.length === 3 && resolve();
    });
    const sock = await bindToDevice({
      device: "lo",
      port,
      onMessage: (data, from) => {
        got.push([new TextDecoder().decode(data), from]);
        notify();
      },
    });
    open.push(sock);
    const client = createSocket("udp4");
    await new Promise<void>((resolve) => client.bind(0, "127.0.0.1", () => resolve()));
    for (const m of ["one", "two", "three"]) client.send(m, port, "127.0.0.1");
    const source = client.address().port;
    await Promise.race([three, Bun.sleep(5000)]);
    client.close();
    expect(got.map(([m]) => m)).toEqual(["one", "two", "three"]);
    expect(got[0]?.[1]).toEqual({ address: "127.0.0.1", port: source });
  });

  test("an interface that does not exist is refused with a DHCP_BIND error naming it", async () => {
    const port = await freePort();
    const err = await bindToDevice({ device: "nope0", port, onMessage: () => {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "DHCP_BIND", message: `dhcp: cannot listen on nope0 port ${port}: interface nope0 does not exist` });
  });

  test("close stops the receiving thread; the port can be bound again", async () => {
    const port = await freePort();
    const first = await bindToDevice({ device: "lo", port, onMessage: () => {} });
    await first.close();
    const again = await bindToDevice({ device: "lo", port, onMessage: () => {} });
    open.push(again);
    expect(again.device).toBe("lo");
  });
});
