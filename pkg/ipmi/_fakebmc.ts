/**
 * A fake BMC for Vaquero's unit tests (imported only by *.test.ts): the BMC side of IPMI v2.0 / RMCP+ behind an
 * in-memory {@link IpmiTransport}, with cipher suites 3 and 17 computed independently of the client
 * (_fakebmc_wire.ts), power state and boot flags as state, and the misbehaviours the client must survive:
 * dropped packets, silence, a reset that forgets sessions, completion codes, RMCP+ statuses, forged packets.
 * It records what it saw and how many times it executed each command.
 */

import {
  BMC_SUITES,
  type BmcKeys,
  type BmcRakp,
  type BmcSuite,
  bmcKeys,
  le32,
  openPacket,
  rakp2Code,
  rakp3Code,
  rakp4Icv,
  sealPacket,
  userKey,
} from "./_fakebmc_wire.ts";
import { decodeRequest, encodeResponse, type IpmiRequest } from "./_message.ts";
import { decodePacket, encodeV15 } from "./_rmcp.ts";
import type { IpmiTransport } from "./_transport.ts";

/** Command keys `netFn/cmd` (request netFn, decimal) of what the fake BMC executes. */
export const Cmd = {
  authCaps: "6/56",
  cipherSuites: "6/84",
  deviceId: "6/1",
  setPrivilege: "6/59",
  closeSession: "6/60",
  chassisStatus: "0/1",
  chassisControl: "0/2",
  setBootOptions: "0/8",
  getBootOptions: "0/9",
} as const;

/** A packet the fake BMC received (logged before any drop). */
export interface SeenPacket {
  format: "v1.5" | "v2.0";
  payloadType: number;
  sessionId: number;
  seq: number;
  /** The decrypted payload (session packets of a known session) or the raw one. */
  payload: Uint8Array;
  /** The IPMI request inside, when there is one and it decodes. */
  request?: IpmiRequest;
  dropped: boolean;
}

/** What a fake BMC starts with. */
export interface FakeBmcOptions {
  /** Suite IDs listed by Get Channel Cipher Suites (default [3, 17]); sessions run with 3 and 17 only. */
  ciphers?: number[];
  /** User name → password (default { admin: "bmc-secret" }). */
  users?: Record<string, string>;
  powerOn?: boolean;
  /** Seed of the BMC's own random numbers (session IDs, Rc, IVs). */
  seed?: number;
  /** BMC session IDs to hand out, in order, before random ones. */
  sessionIds?: number[];
}

interface BmcSession {
  bmcId: number;
  consoleId: number;
  suite: BmcSuite;
  rakp?: BmcRakp;
  keys?: BmcKeys;
  outSeq: number;
}

const GUID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

/** A fake BMC; configure its fields between calls. */
export class FakeBmc {
  ciphers: number[];
  users: Map<string, string>;
  powerOn: boolean;
  /** Boot flags parameter 5 data (5 bytes) as last set. */
  bootFlags: Uint8Array = new Uint8Array(5);
  /** Incoming packets to drop unread (after logging). */
  dropRequests = 0;
  /** Answers to drop after executing their request. */
  dropAnswers = 0;
  /**
   * A set-up payload type (e.g. 0x12, RAKP 1) whose first answer is held back and delivered just before the
   * answer to the next message: a late answer to a copy the client has since retransmitted.
   */
  holdFirstAnswerOf: number | undefined;
  private held: Uint8Array | undefined;
  /** Answers nothing at all. */
  silent = false;
  /** Completion code to answer a command with, by {@link Cmd} key, instead of executing it. */
  refuse = new Map<string, number>();
  /** RMCP+ status for Open Session Responses (0: accept). */
  openSessionStatus = 0;
  /** Packets to send before each of the next answers in a session: forged (wrong K1) or random bytes. */
  forgeBefore: ("forged" | "garbage")[] = [];
  /** Executions per {@link Cmd} key. */
  readonly executed = new Map<string, number>();
  /** Commands in the order executed, with their request data. */
  readonly log: { key: string; data: Uint8Array }[] = [];
  readonly seen: SeenPacket[] = [];
  /** Open Session Request payloads received. */
  readonly opens: Uint8Array[] = [];
  /** Transports opened by clients. */
  transports = 0;
  /** Most session requests ever awaiting their answer at once. */
  maxOutstanding = 0;
  private outstanding = 0;
  private readonly sessions = new Map<number, BmcSession>();
  private readonly sessionIds: number[];
  private state: number;

  constructor(o: FakeBmcOptions = {}) {
    this.ciphers = o.ciphers ?? [3, 17];
    this.users = new Map(Object.entries(o.users ?? { admin: "bmc-secret" }));
    this.powerOn = o.powerOn ?? false;
    this.state = (o.seed ?? 1) >>> 0 || 1;
    this.sessionIds = [...(o.sessionIds ?? [])];
  }

  /** Forgets every session, as a BMC reset does. */
  reset(): void {
    this.sessions.clear();
  }

  /** Executions of `key`. */
  times(key: string): number {
    return this.executed.get(key) ?? 0;
  }

  /** The transport factory for createBmcClient's `transport` option. */
  readonly transport = async (_host: string, _port: number): Promise<IpmiTransport> => {
    this.transports++;
    let handler: (b: Uint8Array) => void = () => {};
    let closed = false;
    const reply = (b: Uint8Array, session: boolean): void => {
      queueMicrotask(() => {
        if (session) this.outstanding--;
        if (!closed) handler(b);
      });
    };
    return {
      send: (bytes) => {
        const copy = bytes.slice();
        queueMicrotask(() => {
          if (!closed) this.receive(copy, reply);
        });
      },
      onMessage: (h) => {
        handler = h;
      },
      close: async () => {
        closed = true;
      },
    };
  };

  /** xorshift32: the BMC's deterministic randomness. */
  private random(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      this.state ^= this.state << 13;
      this.state ^= this.state >>> 17;
      this.state ^= this.state << 5;
      this.state >>>= 0;
      out[i] = this.state & 0xff;
    }
    return out;
  }

  private receive(b: Uint8Array, reply: (b: Uint8Array, session: boolean) => void): void {
    const entry = this.inspect(b);
    if (entry) this.seen.push(entry);
    if (this.dropRequests > 0) {
      this.dropRequests--;
      if (entry) entry.dropped = true;
      return;
    }
    if (this.silent || !entry) return;
    if (entry.format === "v1.5") {
      const req = entry.request;
      if (req) reply(encodeV15(encodeResponse(this.execute(req, undefined))), false);
      return;
    }
    const out = this.rmcpp(entry);
    if (!out) return;
    const session = entry.payloadType === 0x00;
    if (session) {
      this.outstanding++;
      this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    }
    if (this.dropAnswers > 0) {
      this.dropAnswers--;
      if (session) this.outstanding--;
      return;
    }
    if (this.holdFirstAnswerOf !== undefined && entry.payloadType === this.holdFirstAnswerOf) {
      this.holdFirstAnswerOf = undefined;
      this.held = out;
      return;
    }
    if (this.held) {
      reply(this.held, false);
      this.held = undefined;
    }
    if (session) {
      const forge = this.forgeBefore.shift();
      if (forge === "garbage") reply(this.random(1 + ((this.random(1)[0] ?? 0) % 80)), false);
      if (forge === "forged") reply(this.forged(entry), false);
    }
    reply(out, session);
  }

  /** Decodes what arrived, for the log (and for the request inside). */
  private inspect(b: Uint8Array): SeenPacket | undefined {
    if (b[4] === 0x00) {
      try {
        const p = decodePacket(b);
        if (p.format !== "v1.5") return undefined;
        return {
          format: "v1.5",
          payloadType: 0,
          sessionId: p.sessionId,
          seq: p.seq,
          payload: p.message,
          request: decodeRequest(p.message),
          dropped: false,
        };
      } catch {
        return undefined;
      }
    }
    const sessionId = b.length >= 10 ? Buffer.from(b).readUInt32LE(6) : 0;
    const p = openPacket(b, this.sessions.get(sessionId)?.keys);
    if (!p) return undefined;
    const entry: SeenPacket = {
      format: "v2.0",
      payloadType: p.payloadType,
      sessionId: p.sessionId,
      seq: p.seq,
      payload: p.payload,
      dropped: false,
    };
    if (p.payloadType === 0x00) {
      try {
        entry.request = decodeRequest(p.payload);
      } catch {
        // Not a request: logged as is.
      }
    }
    return entry;
  }

  /** Answers an RMCP+ packet: session set-up, or a command in an active session. */
  private rmcpp(p: SeenPacket): Uint8Array | undefined {
    const d = p.payload;
    const tag = d[0] ?? 0;
    const plain = (payloadType: number, payload: Uint8Array): Buffer => sealPacket({ payloadType, sessionId: 0, seq: 0, payload });
    const status = (payloadType: number, code: number, consoleId: number): Buffer =>
      plain(payloadType, Buffer.concat([Buffer.of(tag, code, 0, 0), le32(consoleId)]));
    if (p.payloadType === 0x10) {
      if (d.length < 32) return undefined;
      this.opens.push(d);
      const consoleId = Buffer.from(d).readUInt32LE(4);
      if (this.openSessionStatus !== 0) return status(0x11, this.openSessionStatus, consoleId);
      const suite = ([3, 17] as const)
        .filter((id) => this.ciphers.includes(id))
        .map((id) => BMC_SUITES[id])
        .find((s) => d[12] === s.auth && d[20] === s.integrity && d[28] === s.confidentiality);
      if (!suite) return status(0x11, 0x11, consoleId);
      const bmcId = this.sessionIds.shift() ?? (Buffer.from(this.random(4)).readUInt32LE(0) | 0x100) >>> 0;
      this.sessions.set(bmcId, { bmcId, consoleId, suite, outSeq: 0 });
      const alg = (type: number, a: number): Buffer => Buffer.of(type, 0, 0, 8, a, 0, 0, 0);
      return plain(
        0x11,
        Buffer.concat([
          Buffer.of(tag, 0, 4, 0),
          le32(consoleId),
          le32(bmcId),
          alg(0, suite.auth),
          alg(1, suite.integrity),
          alg(2, suite.confidentiality),
        ]),
      );
    }
    if (p.payloadType === 0x12) {
      const s = d.length >= 28 ? this.sessions.get(Buffer.from(d).readUInt32LE(4)) : undefined;
      if (!s) return undefined;
      const user = d.slice(28, 28 + (d[27] ?? 0));
      const password = this.users.get(new TextDecoder().decode(user));
      if (password === undefined) return status(0x13, 0x0d, s.consoleId);
      const rakp: BmcRakp = {
        suite: s.suite,
        kuid: userKey(password),
        consoleId: s.consoleId,
        bmcId: s.bmcId,
        rm: d.slice(8, 24),
        rc: this.random(16),
        guid: GUID,
        role: d[24] ?? 0,
        user,
      };
      s.rakp = rakp;
      return plain(0x13, Buffer.concat([Buffer.of(tag, 0, 0, 0), le32(s.consoleId), rakp.rc, GUID, rakp2Code(rakp)]));
    }
    if (p.payloadType === 0x14) {
      const s = d.length >= 8 ? this.sessions.get(Buffer.from(d).readUInt32LE(4)) : undefined;
      if (!s?.rakp) return undefined;
      if (!rakp3Code(s.rakp).equals(Buffer.from(d.subarray(8)))) return status(0x15, 0x0f, s.consoleId);
      s.keys = bmcKeys(s.rakp);
      return plain(0x15, Buffer.concat([Buffer.of(tag, 0, 0, 0), le32(s.consoleId), rakp4Icv(s.rakp, s.keys.sik)]));
    }
    const s = this.sessions.get(p.sessionId);
    if (p.payloadType !== 0x00 || !s?.keys || !p.request) return undefined;
    const res = encodeResponse(this.execute(p.request, s));
    s.outSeq = (s.outSeq + 1) >>> 0;
    return sealPacket({ payloadType: 0x00, sessionId: s.consoleId, seq: s.outSeq, payload: res }, s.keys, this.random(16));
  }

  /** A well-formed answer to `p` saying the opposite, sealed with a K1 and K2 that are not the session's. */
  private forged(p: SeenPacket): Uint8Array {
    const s = this.sessions.get(p.sessionId);
    const req = p.request;
    if (!s?.keys || !req) return new Uint8Array(0);
    const lie = encodeResponse({
      netFn: req.netFn + 1,
      cmd: req.cmd,
      rqSeq: req.rqSeq,
      completionCode: 0,
      data: Uint8Array.of(this.powerOn ? 0 : 1, 0, 0, 0x05, 0xff, 0xff, 0, 0, 0, 0, 0),
    });
    const wrong: BmcKeys = { ...s.keys, k1: Buffer.alloc(s.keys.k1.length, 0x5a) };
    return sealPacket({ payloadType: 0x00, sessionId: s.consoleId, seq: s.outSeq + 1, payload: lie }, wrong, this.random(16));
  }

  /** Executes a request; the response, with a refusal's completion code when one is configured. */
  private execute(r: IpmiRequest, s: BmcSession | undefined) {
    const key = `${r.netFn}/${r.cmd}`;
    const answer = (completionCode: number, data: Uint8Array = new Uint8Array(0)) => ({
      netFn: r.netFn + 1,
      cmd: r.cmd,
      rqSeq: r.rqSeq,
      completionCode,
      data,
    });
    const cc = this.refuse.get(key);
    if (cc !== undefined) return answer(cc);
    this.executed.set(key, this.times(key) + 1);
    this.log.push({ key, data: r.data });
    switch (key) {
      case Cmd.authCaps:
        return answer(0, Uint8Array.of(0x01, 0x80 | 0x14, 0x04, 0x02, 0, 0, 0, 0));
      case Cmd.cipherSuites: {
        const records = Buffer.concat(
          this.ciphers.map((id) =>
            Buffer.of(0xc0, id, ...(id === 17 ? [0x03, 0x44, 0x81] : id === 0 ? [0x00, 0x40, 0x80] : [0x01, 0x41, 0x81])),
          ),
        );
        const index = (r.data[2] ?? 0) & 0x3f;
        return answer(0, Buffer.concat([Buffer.of(0x01), records.subarray(index * 16, index * 16 + 16)]));
      }
      case Cmd.setPrivilege:
        return s ? answer(0, Uint8Array.of(r.data[0] ?? 0)) : answer(0xd4);
      case Cmd.closeSession:
        if (s) this.sessions.delete(s.bmcId);
        return answer(0);
      case Cmd.deviceId:
        return answer(0, Uint8Array.of(0x20, 0x01, 0x02, 0x15, 0x02, 0xbf, 0x57, 0x01, 0x00, 0x34, 0x12));
      case Cmd.chassisStatus:
        return answer(0, Uint8Array.of(this.powerOn ? 0x01 : 0x00, 0x00, 0x40));
      case Cmd.chassisControl: {
        const action = r.data[0] ?? 0xff;
        if (action === 0 || action === 5) this.powerOn = false;
        else if (action === 1 || action === 2 || action === 3) this.powerOn = true;
        else return answer(0xcc);
        return answer(0);
      }
      case Cmd.setBootOptions:
        if ((r.data[0] ?? 0) !== 5) return answer(0x80);
        this.bootFlags = r.data.slice(1, 6);
        return answer(0);
      case Cmd.getBootOptions:
        return answer(0, Buffer.concat([Buffer.of(0x01, 0x05), this.bootFlags]));
      default:
        return answer(0xc1);
    }
  }
}
