/**
 * The listener's TLS of `vaquero server` from its flags: `--tls-cert` and `--tls-key` (both or neither) serve
 * HTTPS; `--client-ca` (only with them) adds mutual TLS, where the handshake itself refuses every client without a
 * certificate signed by that CA — agents and operators' tools alike. Bearer tokens are still checked on top: the
 * certificate proves the machine, the token its role and site (docs/decisions.md 40).
 */
import { VaqueroError } from "../../internal/errors/index.ts";
import { pairMissing, readPemCertificates, readTlsPair } from "../common/tls.ts";

/** The `tls` options of the server's `Bun.serve`. */
export interface ServerTls {
  cert: string;
  key: string;
  /** The client CA (mTLS), with `requestCert` and `rejectUnauthorized`. */
  ca?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
}

/** What the server's TLS flags give, validated. */
export interface TlsFlags {
  "tls-cert"?: string | undefined;
  "tls-key"?: string | undefined;
  "client-ca"?: string | undefined;
}

function usage(msg: string): VaqueroError {
  return new VaqueroError("USAGE", `vaquero server: ${msg} (see vaquero server --help)`, { exitCode: 2 });
}

/** Checks the combination of the TLS flags (exit 2 for a missing half or a client CA without TLS). */
export function checkTlsFlags(cfg: TlsFlags): void {
  const missing = pairMissing({ cert: cfg["tls-cert"], key: cfg["tls-key"] });
  if (missing) throw usage(missing);
  if (cfg["client-ca"] !== undefined && cfg["tls-cert"] === undefined)
    throw usage("--client-ca (mTLS) needs --tls-cert and --tls-key: client certificates are checked in the TLS handshake");
}

/** Reads and checks the TLS files; undefined for plain HTTP. Exit 2 (`TLS_FILE`) names an unreadable or invalid file. */
export async function loadServerTls(cfg: TlsFlags): Promise<ServerTls | undefined> {
  checkTlsFlags(cfg);
  const cert = cfg["tls-cert"];
  const key = cfg["tls-key"];
  if (cert === undefined || key === undefined) return undefined;
  const pair = await readTlsPair("server", { cert, key });
  if (cfg["client-ca"] === undefined) return pair;
  const ca = await readPemCertificates("server", "--client-ca", cfg["client-ca"]);
  return { ...pair, ca, requestCert: true, rejectUnauthorized: true };
}

/** What the log line at start says of the listener. */
export function tlsMode(tls: ServerTls | undefined): "http" | "https" | "mtls" {
  return tls === undefined ? "http" : tls.ca === undefined ? "https" : "mtls";
}
