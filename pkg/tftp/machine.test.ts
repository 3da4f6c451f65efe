import { describe, expect, test } from "bun:test";
import { encodePacket } from "./_codec.ts";
import { type MachineParams, TransferMachine } from "./_machine.ts";

const params = (o: Partial<MachineParams> = {}): MachineParams => ({
  size: 512 * 10 + 3,
  blksize: 512,
  windowsize: 1,
  oack: false,
  timeoutMs: 1000,
  adaptiveRto: false,
  retries: 3,
  deadlineMs: 60_000,
  paceMs: 1,
  ...o,
});

/** Sends every ready slice at `now`; answers the blocks sent. */
function sendAll(m: TransferMachine, now: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 100 && m.ready(now); i++) {
    for (let k = m.sliceFrom; k <= m.sliceTo; k++) out.push(k);
    m.sentSlice(m.sliceTo - m.sliceFrom + 1, now);
  }
  return out;
}

describe("TransferMachine", () => {
  test("window 1 without OACK: one block per ACK, done after the short last block", () => {
    const m = new TransferMachine(params());
    expect(m.lastBlock).toBe(11);
    expect(m.start(0)).toBe("send");
    for (let k = 1; k <= 11; k++) {
      expect(sendAll(m, k)).toEqual([k]);
      expect(m.ack(k, k)).toBe(k === 11 ? "done" : "send");
    }
    expect(m.ended).toBe(true);
    expect(m.bytes).toBe(512 * 10 + 3);
    expect(m.blockBytes(11)).toEqual([5120, 3]);
  });

  test("OACK first: only ACK 0 starts the data; a timeout resends the OACK", () => {
    const m = new TransferMachine(params({ oack: true }));
    expect(m.start(0)).toBe("oack");
    expect(m.ack(1, 1)).toBe("none");
    expect(m.tick(999)).toBe("none");
    expect(m.tick(1000)).toBe("oack");
    expect(m.ack(0, 1001)).toBe("send");
    expect(sendAll(m, 1001)).toEqual([1]);
  });

  test("duplicate and stale ACKs are ignored (no resend)", () => {
    const m = new TransferMachine(params({ windowsize: 4 }));
    m.start(0);
    expect(sendAll(m, 0)).toEqual([1, 2, 3, 4]);
    expect(m.ack(4, 1)).toBe("send");
    expect(sendAll(m, 1)).toEqual([5, 6, 7, 8]);
    expect(m.ack(4, 2)).toBe("none");
    expect(m.ack(3, 2)).toBe("none");
    expect(m.pending).toBe(false);
  });

  test("an ACK inside the window opens the next window from it", () => {
    const m = new TransferMachine(params({ windowsize: 4 }));
    m.start(0);
    sendAll(m, 0);
    expect(m.ack(2, 1)).toBe("send");
    expect(sendAll(m, 1)).toEqual([3, 4, 5, 6]);
  });

  test("a timeout resends the window from the last acknowledged block; retries end it", () => {
    const m = new TransferMachine(params({ windowsize: 4, retries: 2 }));
    m.start(0);
    sendAll(m, 0);
    expect(m.wakeAt()).toBe(1000);
    expect(m.tick(1000)).toBe("send");
    expect(sendAll(m, 1000)).toEqual([1, 2, 3, 4]);
    expect(m.tick(2000)).toBe("send");
    sendAll(m, 2000);
    expect(m.tick(3000)).toBe("fail");
    expect(m.failure).toEqual({ reason: "no ACK after 2 retransmissions" });
  });

  test("windows over paceBytes go out in paced slices", () => {
    const m = new TransferMachine(params({ size: 8192 * 40, blksize: 8192, windowsize: 16, paceMs: 0.5 }));
    expect(m.perSlice).toBe(8);
    m.start(0);
    expect(sendAll(m, 0)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(m.ready(0.4)).toBe(false);
    expect(m.wakeAt()).toBe(0.5);
    expect(m.tick(0.5)).toBe("send");
    expect(sendAll(m, 0.5)).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
  });

  test("a slice the kernel refuses is retried, then left to the timer", () => {
    const m = new TransferMachine(params({ windowsize: 2 }));
    m.start(0);
    for (let i = 0; i < 4; i++) m.sentSlice(0, i);
    expect(m.pending).toBe(false);
    expect(m.wakeAt()).toBe(1003);
  });

  test("block numbers roll over from 65535 to 0", () => {
    const m = new TransferMachine(params({ size: 8 * 65540, blksize: 8, windowsize: 64 }));
    m.start(0);
    let last = 0;
    for (let i = 0; i < 2000 && !m.ended; i++) {
      const sent = sendAll(m, i);
      last = sent.at(-1) ?? last;
      m.ack(last & 0xffff, i);
    }
    expect(m.ended).toBe(true);
    expect(last).toBe(65541);
  });

  test("an ERROR from the peer fails without telling the peer; other packets are ignored", () => {
    const m = new TransferMachine(params());
    m.start(0);
    const data = encodePacket({ op: "DATA", block: 1, data: new Uint8Array(3) });
    expect(m.receive(data, data.length, 1)).toBe("none");
    const err = encodePacket({ op: "ERROR", code: 0, message: "enough" });
    expect(m.receive(err, err.length, 1)).toBe("fail");
    expect(m.failure).toEqual({ reason: "peer sent error 0: enough" });
  });

  test("the deadline and an abort tell the peer", () => {
    const m = new TransferMachine(params({ deadlineMs: 50, timeoutMs: 1000 }));
    m.start(0);
    sendAll(m, 0);
    expect(m.wakeAt()).toBe(50);
    expect(m.tick(50)).toBe("fail");
    expect(m.failure).toEqual({ reason: "exceeded 50 ms", tellPeer: "transfer took too long" });
    const n = new TransferMachine(params());
    n.start(0);
    expect(n.abort("server closed")).toBe("fail");
    expect(n.failure?.tellPeer).toBe("server shutting down");
    expect(n.abort("again")).toBe("none");
  });
});
