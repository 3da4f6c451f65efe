/**
 * Seeded fuzz test: generated packets, encoded, then mutated byte by byte. decodeDhcp must return a packet or
 * throw DhcpDecodeError, nothing else; every decoded packet must encode and decode back to itself, and encode
 * to the same bytes twice.
 */
import { expect, test } from "bun:test";
import type { DhcpPacket } from "./_codec.ts";
import { DhcpDecodeError, DhcpEncodeError, decodeDhcp, encodeDhcp } from "./index.ts";

/** mulberry32: a small seeded PRNG, so a failure replays exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 0x5eed1e55;
const CASES = 4000;

function gen(rnd: () => number): DhcpPacket {
  const int = (n: number) => Math.floor(rnd() * n);
  const ip = () => (rnd() < 0.5 ? "0.0.0.0" : `${int(256)}.${int(256)}.${int(256)}.${int(256)}`);
  const text = (max: number) => {
    const n = rnd() < 0.4 ? 0 : int(max + 1);
    const alphabet = rnd() < 0.7 ? "abcdefghijklmnopqrstuvwxyz0123456789./-_" : "aé€ü\u00ff";
    let s = "";
    while (s.length < n) s += alphabet[int(alphabet.length)];
    return new TextEncoder().encode(s).length <= max ? s : "";
  };
  const options = new Map<number, Uint8Array>();
  const count = int(12);
  for (let i = 0; i < count; i++) {
    let code = 1 + int(254);
    if (code === 52) code = 53;
    const len = rnd() < 0.1 ? 0 : rnd() < 0.1 ? 200 + int(500) : int(20);
    options.set(
      code,
      Uint8Array.from({ length: len }, () => int(256)),
    );
  }
  return {
    op: rnd() < 0.5 ? 1 : 2,
    htype: int(256),
    hlen: int(17),
    hops: int(256),
    xid: int(2 ** 32),
    secs: int(65536),
    flags: int(65536),
    ciaddr: ip(),
    yiaddr: ip(),
    siaddr: ip(),
    giaddr: ip(),
    chaddr: Uint8Array.from({ length: 16 }, () => int(256)),
    sname: text(64),
    file: text(128),
    options,
  };
}

function mutate(rnd: () => number, wire: Uint8Array): Uint8Array {
  const int = (n: number) => Math.floor(rnd() * n);
  let w = wire.slice();
  const steps = 1 + int(4);
  for (let s = 0; s < steps; s++) {
    const r = rnd();
    if (r < 0.35 && w.length > 0) {
      w[int(w.length)] = int(256); // overwrite a byte anywhere
    } else if (r < 0.55 && w.length > 240) {
      w[240 + int(w.length - 240)] = [0, 255, 52, 53, int(256)][int(5)]!; // a byte in the options area
    } else if (r < 0.65) {
      w = w.slice(0, int(w.length + 1)); // truncate
    } else if (r < 0.75) {
      const extra = Uint8Array.from({ length: int(64) }, () => int(256)); // append garbage
      const n = new Uint8Array(w.length + extra.length);
      n.set(w);
      n.set(extra, w.length);
      w = n;
    } else if (r < 0.85 && w.length > 243) {
      w.set([52, 1, 1 + int(3)], 240); // force an overload onto whatever sname and file hold
    } else if (w.length > 2) {
      const at = 240 + int(Math.max(1, w.length - 241)); // a length byte pointing past the end
      if (at + 1 < w.length) w[at + 1] = 255 - int(8);
    }
  }
  return w;
}

function samePacket(a: DhcpPacket, b: DhcpPacket): boolean {
  const keys = ["op", "htype", "hlen", "hops", "xid", "secs", "flags", "ciaddr", "yiaddr", "siaddr", "giaddr", "sname", "file"] as const;
  if (keys.some((k) => a[k] !== b[k])) return false;
  if (!sameBytes(a.chaddr, b.chaddr) || a.options.size !== b.options.size) return false;
  for (const [code, v] of a.options) {
    const w = b.options.get(code);
    if (!w || !sameBytes(v, w)) return false;
  }
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** decode → encode → decode must give the same packet and the same bytes again. */
function checkStable(p: DhcpPacket): void {
  const wire = encodeDhcp(p);
  const back = decodeDhcp(wire);
  if (!samePacket(back, p)) expect(back).toEqual(p);
  const again = encodeDhcp(back);
  if (!sameBytes(again, wire)) expect(again).toEqual(wire);
}

test(`fuzz: ${CASES} generated and mutated packets (seed 0x${SEED.toString(16)})`, () => {
  const rnd = prng(SEED);
  const tally = { decoded: 0, refused: 0, encodeRefused: 0, overloaded: 0 };
  const started = performance.now();
  for (let i = 0; i < CASES; i++) {
    const p = gen(rnd);
    const maxSize = rnd() < 0.3 ? 576 + Math.floor(rnd() * 900) : undefined;
    let wire: Uint8Array;
    try {
      wire = encodeDhcp(p, { maxSize });
    } catch (e) {
      if (!(e instanceof DhcpEncodeError)) throw e;
      tally.encodeRefused++;
      wire = encodeDhcp(p);
    }
    const back = decodeDhcp(wire);
    if (!samePacket(back, p)) expect(back).toEqual(p);
    if (wire[240 + 3] === 52 || wire[240] === 52) tally.overloaded++;
    for (const candidate of [mutate(rnd, wire), mutate(rnd, wire)]) {
      let decoded: DhcpPacket;
      try {
        decoded = decodeDhcp(candidate);
      } catch (e) {
        if (!(e instanceof DhcpDecodeError)) throw new Error(`case ${i}: decode threw ${e}`);
        expect(e.code).toBe("DHCP_DECODE");
        tally.refused++;
        continue;
      }
      tally.decoded++;
      checkStable(decoded);
    }
  }
  const ms = performance.now() - started;
  // Each path must actually be exercised, or the test proves nothing.
  expect(tally.decoded).toBeGreaterThan(CASES / 4);
  expect(tally.refused).toBeGreaterThan(CASES / 4);
  expect(tally.encodeRefused).toBeGreaterThan(0);
  expect(tally.overloaded).toBeGreaterThan(0);
  expect(ms).toBeLessThan(2000);
});

test("fuzz: random bytes after a valid header decode or are refused", () => {
  const rnd = prng(SEED ^ 0xffff);
  const head = encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 1,
    secs: 0,
    flags: 0,
    ciaddr: "0.0.0.0",
    yiaddr: "0.0.0.0",
    siaddr: "0.0.0.0",
    giaddr: "0.0.0.0",
    chaddr: new Uint8Array(16),
    sname: "",
    file: "",
    options: new Map(),
  }).subarray(0, 240);
  for (let i = 0; i < 1000; i++) {
    const body = Uint8Array.from({ length: Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256));
    const wire = new Uint8Array(240 + body.length);
    wire.set(head);
    wire.set(body, 240);
    // Random sname and file too, in half the cases.
    if (rnd() < 0.5) for (let j = 44; j < 236; j++) wire[j] = Math.floor(rnd() * 256);
    try {
      checkStable(decodeDhcp(wire));
    } catch (e) {
      if (!(e instanceof DhcpDecodeError)) throw e;
    }
  }
});
