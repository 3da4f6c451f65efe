/**
 * An RMCP+ session with one BMC (IPMI v2.0 §13.15–13.24): channel capabilities, the cipher suite (asked for,
 * or 17 when the BMC lists it, else 3; suite 0 never), Open Session, RAKP 1–4, Set Session Privilege Level,
 * then commands one at a time, each with per-attempt timeouts and retries under the same request sequence
 * number, and Close Session. Time, randomness and the network are injected.
 */

import {
  type Command,
  closeSession,
  decodeChannelAuthCaps,
  getChannelAuthCaps,
  getChannelCipherSuites,
  parseCipherSuiteRecords,
  setSessionPrivilege,
} from "./_commands.ts";
import { CIPHER_SUITES, type CipherSuite, sessionKeys } from "./_crypto.ts";
import { describeCompletion, IpmiError } from "./_errors.ts";
import { decodeResponse, encodeRequest, type IpmiResponse } from "./_message.ts";
import {
  checkRakp4,
  decodeOpenSessionResponse,
  decodeRakp2,
  encodeOpenSession,
  encodeRakp1,
  encodeRakp3,
  Privilege,
  type RakpContext,
  rakpStatusError,
  verifyRakp2,
} from "./_rakp.ts";
import { decodePacket, encodeV2, encodeV15, type IpmiPacket, Payload, type SessionCrypto } from "./_rmcp.ts";
import type { IpmiTransport } from "./_transport.ts";

/** What a session needs. */
export interface SessionOptions {
  /** For messages: `host:port`. */
  target: string;
  transport: IpmiTransport;
  user: string;
  password: string;
  /** 3 or 17; undefined: 17 when the BMC lists it, else 3. */
  cipher?: 3 | 17;
  /** First attempt's timeout; later attempts wait longer (× 1.5 each, ±20 % jitter). Default 1000 ms. */
  timeoutMs?: number;
  /** Attempts per request, the first included. Default 4. */
  attempts?: number;
  random: (n: number) => Uint8Array;
  sleep: (ms: number) => Promise<void>;
}

/** How many times a request is sent, and the first attempt's wait (later ones × 1.5, ±20 % jitter). */
interface Plan {
  attempts: number;
  firstWaitMs: number;
}

/** A request: its bytes per attempt, and which answer is its own. */
interface Exchange {
  build: (attempt: number) => Uint8Array;
  accept: (p: IpmiPacket) => boolean;
}

/** An open session. */
export interface Session {
  readonly suite: CipherSuite;
  /**
   * Sends a command and returns its response data; a non-zero completion code throws IPMI_COMMAND_REFUSED.
   * `once`: never retransmitted (commands that must not run twice), waited for as long as all attempts.
   */
  command(c: Command, what: string, opts?: { once?: boolean }): Promise<Uint8Array>;
  /** Close Session, best effort (one attempt). */
  close(): Promise<void>;
}

/** Opens a session. Typed errors: IPMI_INSECURE, IPMI_UNREACHABLE, IPMI_CIPHER_UNSUPPORTED, IPMI_AUTH_FAILED. */
export async function openSession(o: SessionOptions): Promise<Session> {
  const user = new TextEncoder().encode(o.user);
  const kuid = new TextEncoder().encode(o.password);
  if (user.length === 0) throw new IpmiError("IPMI_INSECURE", "ipmi: refusing an anonymous (empty) user name");
  if (kuid.length === 0) throw new IpmiError("IPMI_INSECURE", "ipmi: refusing an empty password");
  if (user.length > 16) throw new IpmiError("IPMI_AUTH_FAILED", "ipmi: user names are at most 16 bytes");
  if (kuid.length > 20) throw new IpmiError("IPMI_AUTH_FAILED", "ipmi: IPMI v2.0 passwords are at most 20 bytes");
  const timeoutMs = o.timeoutMs ?? 1000;
  const attempts = Math.max(1, Math.min(o.attempts ?? 4, 10));
  let inbox: ((p: IpmiPacket | Uint8Array) => void) | undefined;
  let crypto: SessionCrypto | undefined;
  o.transport.onMessage((bytes) => {
    if (!inbox) return;
    try {
      inbox(decodePacket(bytes, crypto));
    } catch {
      // Malformed, forged or from an old session: dropped; the request's timeout decides.
    }
  });

  /** Sends `ex` until an accepted answer arrives; IPMI_UNREACHABLE after the last attempt. */
  const exchange = async (ex: Exchange, what: string, plan: Plan = { attempts, firstWaitMs: timeoutMs }): Promise<IpmiPacket> => {
    for (let attempt = 0; attempt < plan.attempts; attempt++) {
      const wait = plan.firstWaitMs * 1.5 ** attempt * (0.8 + 0.4 * ((o.random(1)[0] ?? 128) / 255));
      const got = await new Promise<IpmiPacket | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), wait);
        inbox = (p) => {
          if (p instanceof Uint8Array || !ex.accept(p)) return;
          clearTimeout(timer);
          resolve(p);
        };
        o.transport.send(ex.build(attempt));
      });
      inbox = undefined;
      if (got) return got;
    }
    throw new IpmiError(
      "IPMI_UNREACHABLE",
      `ipmi: ${o.target} did not answer ${what} (${plan.attempts} attempt${plan.attempts > 1 ? "s" : ""})`,
      {
        target: o.target,
      },
    );
  };

  let rqSeq = 0;
  const v15 = async (c: Command, what: string): Promise<IpmiResponse> => {
    rqSeq = (rqSeq + 1) & 0x3f;
    const seq = rqSeq;
    const p = await exchange(
      {
        build: () => encodeV15(encodeRequest({ ...c, rqSeq: seq })),
        accept: (p) => p.format === "v1.5" && matches(p.message, c, seq),
      },
      what,
    );
    return decodeResponse(p.format === "v1.5" ? p.message : new Uint8Array(0));
  };

  // 1. The channel must speak IPMI v2.0.
  const caps = await v15(getChannelAuthCaps(Privilege.ADMIN), "Get Channel Authentication Capabilities");
  if (caps.completionCode !== 0) throw refused("Get Channel Authentication Capabilities", caps.completionCode, o.target);
  if (!decodeChannelAuthCaps(caps.data).ipmi20)
    throw new IpmiError("IPMI_CIPHER_UNSUPPORTED", `ipmi: ${o.target} does not offer IPMI v2.0 (RMCP+) on this channel`);

  // 2. The suite: asked for, or the best the BMC lists.
  const listed = await listCipherSuites(v15);
  let id = o.cipher;
  if (id === undefined) id = listed?.includes(17) ? 17 : 3;
  if (listed && !listed.includes(id))
    throw new IpmiError(
      "IPMI_CIPHER_UNSUPPORTED",
      `ipmi: ${o.target} does not offer cipher suite ${id} (it lists ${listed.join(", ") || "none"})`,
    );
  const suite = CIPHER_SUITES[id];

  // 3. Open Session and RAKP.
  // The drawn bytes may be a view into a larger buffer (a pool): read them at their own offset.
  const drawn = o.random(4);
  const consoleSessionId = (new DataView(drawn.buffer, drawn.byteOffset, drawn.byteLength).getUint32(0, true) | 1) >>> 0;
  const firstTag = (o.random(1)[0] ?? 0) & 0x3f;
  // Each attempt of a set-up message carries its own tag, and only the answer to the latest attempt is taken: a
  // BMC answers a retransmitted RAKP 1 with a new random number, so a late answer to an earlier copy would pair
  // our RAKP 3 with numbers the BMC no longer holds.
  let step = 0;
  const setup = async (type: number, reply: number, payload: (tag: number) => Uint8Array, what: string): Promise<Uint8Array> => {
    let tag = firstTag;
    const p = await exchange(
      {
        build: () => {
          tag = (firstTag + step++) & 0x3f;
          return encodeV2({ payloadType: type, sessionId: 0, seq: 0, payload: payload(tag) });
        },
        accept: (p) => p.format === "v2.0" && p.payloadType === reply && p.payload[0] === tag,
      },
      what,
    );
    return p.format === "v2.0" ? p.payload : new Uint8Array(0);
  };
  const osr = decodeOpenSessionResponse(
    await setup(
      Payload.OPEN_SESSION_REQUEST,
      Payload.OPEN_SESSION_RESPONSE,
      (tag) => encodeOpenSession(tag, 0, consoleSessionId, suite),
      "Open Session",
    ),
  );
  if (osr.status !== 0) {
    const e = rakpStatusError(`${o.target} refused Open Session`, osr.status);
    throw e.code === "IPMI_CIPHER_UNSUPPORTED"
      ? new IpmiError("IPMI_CIPHER_UNSUPPORTED", `ipmi: ${o.target} refused cipher suite ${id}: ${e.message.replace(/^ipmi: /, "")}`)
      : e;
  }
  if (osr.auth !== suite.auth || osr.integrity !== suite.integrity || osr.confidentiality !== suite.confidentiality)
    throw new IpmiError("IPMI_CIPHER_UNSUPPORTED", `ipmi: ${o.target} answered with other algorithms than cipher suite ${id}`);
  const rm = o.random(16);
  const role = Privilege.ADMIN | 0x10;
  const rakp2 = decodeRakp2(
    await setup(Payload.RAKP1, Payload.RAKP2, (tag) => encodeRakp1(tag, osr.bmcSessionId, rm, role, user), "RAKP 1"),
    suite,
  );
  if (rakp2.status !== 0) throw rakpStatusError(`${o.target} refused user "${o.user}" at RAKP 1`, rakp2.status);
  const ctx: RakpContext = {
    suite,
    kuid,
    consoleSessionId,
    bmcSessionId: osr.bmcSessionId,
    rm,
    rc: rakp2.rc,
    guid: rakp2.guid,
    role,
    user,
  };
  if (rakp2.consoleSessionId !== consoleSessionId || !verifyRakp2(ctx, rakp2.authCode))
    throw new IpmiError("IPMI_AUTH_FAILED", `ipmi: ${o.target} rejected the credentials of user "${o.user}" (wrong password)`);
  const keys = sessionKeys(suite, kuid, rm, rakp2.rc, role, user);
  checkRakp4(await setup(Payload.RAKP3, Payload.RAKP4, (tag) => encodeRakp3(tag, ctx), "RAKP 3"), ctx, keys.sik);
  crypto = { suite, k1: keys.k1, k2: keys.k2 };
  const active: SessionCrypto = crypto;

  // 4. Commands inside the session: every packet encrypted and authenticated, sequence numbers from 1. The
  // BMC's own numbers are checked too, so a replayed authentic answer is not taken for a new one.
  const inbound = replayWindow();
  let seq = 0;
  let busy: Promise<unknown> = Promise.resolve();
  // A command that must not run twice is sent once and waited for as long as all attempts would take: a BMC
  // need not recognise a retransmission (ipmi_sim runs each copy), so a retry could cycle a machine twice.
  const once: Plan = {
    attempts: 1,
    firstWaitMs: Array.from({ length: attempts }, (_, i) => timeoutMs * 1.5 ** i).reduce((a, b) => a + b, 0),
  };
  const send = async (c: Command, what: string, plan?: Plan): Promise<IpmiResponse> => {
    rqSeq = (rqSeq + 1) & 0x3f;
    const r = rqSeq;
    const p = await exchange(
      {
        build: () => {
          seq = (seq + 1) >>> 0 || 1;
          return encodeV2(
            { payloadType: Payload.IPMI, sessionId: osr.bmcSessionId, seq, payload: encodeRequest({ ...c, rqSeq: r }) },
            active,
            o.random(16),
          );
        },
        accept: (p) =>
          p.format === "v2.0" &&
          p.authenticated &&
          p.payloadType === Payload.IPMI &&
          p.sessionId === consoleSessionId &&
          matches(p.payload, c, r) &&
          inbound.fresh(p.seq),
      },
      what,
      plan,
    );
    return decodeResponse(p.format === "v2.0" ? p.payload : new Uint8Array(0));
  };
  const priv = await send(setSessionPrivilege(Privilege.ADMIN), "Set Session Privilege Level");
  if (priv.completionCode !== 0) throw refused("Set Session Privilege Level (administrator)", priv.completionCode, o.target);

  return {
    suite,
    command(c, what, opts = {}) {
      const run = busy.then(async () => {
        const res = await send(c, what, opts.once ? once : undefined);
        if (res.completionCode !== 0) throw refused(what, res.completionCode, o.target);
        return res.data;
      });
      busy = run.catch(() => {});
      return run;
    },
    async close() {
      await busy;
      await send(closeSession(osr.bmcSessionId), "Close Session", { attempts: 1, firstWaitMs: timeoutMs }).catch(() => {});
    },
  };
}

/**
 * The BMC's session sequence numbers as IPMI v2.0 §6.12.13 has a receiver check them: never 0, never one seen
 * before, never more than 16 behind the highest seen. `fresh` accepts and remembers a number.
 */
export function replayWindow(): { fresh(seq: number): boolean } {
  let highest = 0;
  const seen = new Set<number>();
  return {
    fresh(seq) {
      if (seq === 0 || seen.has(seq) || seq + 16 < highest) return false;
      seen.add(seq);
      if (seq > highest) highest = seq;
      if (seen.size > 64) for (const s of seen) if (s + 16 < highest) seen.delete(s);
      return true;
    },
  };
}

/** True when `message` is the response to `c` with request sequence `seq`. */
function matches(message: Uint8Array, c: Command, seq: number): boolean {
  try {
    const r = decodeResponse(message);
    return r.netFn === c.netFn + 1 && r.cmd === c.cmd && r.rqSeq === seq;
  } catch {
    return false;
  }
}

function refused(what: string, cc: number, target: string): IpmiError {
  return new IpmiError("IPMI_COMMAND_REFUSED", `ipmi: ${target} refused ${what}: completion code ${describeCompletion(cc)}`, {
    completionCode: cc,
  });
}

/** The suites the channel lists (pages of 16 bytes until a short one); undefined when the BMC cannot say. */
async function listCipherSuites(v15: (c: Command, what: string) => Promise<IpmiResponse>): Promise<number[] | undefined> {
  const parts: Uint8Array[] = [];
  for (let index = 0; index < 64; index++) {
    const r = await v15(getChannelCipherSuites(index), "Get Channel Cipher Suites").catch(() => undefined);
    if (r?.completionCode !== 0 || r.data.length < 1) return index === 0 ? undefined : parseCipherSuiteRecords(concat(parts));
    parts.push(r.data.subarray(1));
    if (r.data.length < 17) break;
  }
  return parseCipherSuiteRecords(concat(parts));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}
