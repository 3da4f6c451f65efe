/**
 * TLS files of the verbs that speak HTTPS (`server` listens with them, `agent` dials with them): PEM files read
 * and checked before anything starts, so a wrong path, a file that is not PEM or a key that is not the
 * certificate's ends the verb with exit 2 (`TLS_FILE`) naming the flag and the file — never a listener or a
 * client that fails later with a socket error.
 *
 * @example
 * const pair = await readTlsPair("server", { cert: "tls.crt", key: "tls.key" });
 * const ca = await readPemCertificates("server", "--client-ca", "ca.crt");
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { VaqueroError } from "../../internal/errors/index.ts";

/** Most bytes of a PEM file read (a CA bundle is a few hundred kB). */
const MAX_PEM_BYTES = 4 * 1024 * 1024;
/** Most certificates of one PEM bundle checked. */
const MAX_PEM_CERTS = 1000;
const CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** A certificate chain and its private key, PEM. */
export interface TlsPair {
  cert: string;
  key: string;
}

function tlsError(verb: string, msg: string): VaqueroError {
  return new VaqueroError("TLS_FILE", `vaquero ${verb}: ${msg}`, { exitCode: 2 });
}

async function readPem(verb: string, flag: string, path: string): Promise<string> {
  const text = await readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw tlsError(verb, `cannot read ${flag} ${path}: ${e.code ?? e.message}`);
  });
  if (text.length > MAX_PEM_BYTES) throw tlsError(verb, `${flag} ${path} is larger than ${MAX_PEM_BYTES} bytes`);
  return text;
}

/**
 * Reads `path` (flag `flag`) and checks that it holds one or more PEM certificates, each of which parses;
 * returns the text as read.
 */
export async function readPemCertificates(verb: string, flag: string, path: string): Promise<string> {
  const text = await readPem(verb, flag, path);
  const blocks = text.match(CERT_RE) ?? [];
  if (!blocks.length) throw tlsError(verb, `${flag} ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const [i, block] of blocks.slice(0, MAX_PEM_CERTS).entries()) {
    try {
      new X509Certificate(block);
    } catch (e) {
      throw tlsError(verb, `${flag} ${path}: certificate ${i + 1} is not valid PEM: ${(e as Error).message}`);
    }
  }
  return text;
}

/**
 * Reads a certificate (chain) and its private key and checks that they parse and belong together. `flags` names
 * the flags in messages (default `--tls-cert` and `--tls-key`).
 */
export async function readTlsPair(
  verb: string,
  paths: { cert: string; key: string },
  flags: { cert: string; key: string } = { cert: "--tls-cert", key: "--tls-key" },
): Promise<TlsPair> {
  const cert = await readPemCertificates(verb, flags.cert, paths.cert);
  const key = await readPem(verb, flags.key, paths.key);
  let parsed: ReturnType<typeof createPrivateKey>;
  try {
    parsed = createPrivateKey(key);
  } catch (e) {
    throw tlsError(verb, `${flags.key} ${paths.key} is not a PEM private key: ${(e as Error).message}`);
  }
  const leaf = new X509Certificate((cert.match(CERT_RE) ?? [cert])[0] ?? cert);
  if (!leaf.checkPrivateKey(parsed)) throw tlsError(verb, `${flags.key} ${paths.key} is not the key of ${flags.cert} ${paths.cert}`);
  return { cert, key };
}

/** The usage error when only one of a certificate and its key is given, else undefined. */
export function pairMissing(o: { cert?: string | undefined; key?: string | undefined }): string | undefined {
  if (o.cert !== undefined && o.key === undefined) return "--tls-cert needs --tls-key (the certificate's private key)";
  if (o.key !== undefined && o.cert === undefined) return "--tls-key needs --tls-cert (the certificate of that key)";
  return undefined;
}
