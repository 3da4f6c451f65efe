/**
 * Push webhooks (API.md "Server"), as pure functions of the request's headers and raw body bytes.
 *
 * Signatures, checked over the raw bytes before anything is parsed, every comparison in constant time:
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`;
 * - Gitea / Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature: <hex HMAC-SHA256 of the body>`;
 * - GitLab: `X-Gitlab-Token: <the secret>` (GitLab signs nothing; the token is compared as SHA-256 digests, so
 *   the comparison's time says nothing of the secret's length);
 * - any other sender: `X-Vaquero-Signature: sha256=<hex HMAC-SHA256 of the body>` over a GitHub-shaped body
 *   `{"ref": "refs/heads/<branch>", "after": "<sha>", "repository": {"clone_url": "<url>"}}`.
 *
 * A delivery counts when its repository's `clone_url`, `ssh_url`, `html_url` (GitLab: `git_http_url`,
 * `git_ssh_url`, `web_url`) equals `--sot` once both are normalised (scheme, credentials, `.git`, trailing
 * slashes and host case dropped; `git@host:o/r` ≡ `ssh://git@host/o/r` ≡ `https://host/o/r`), or its full name
 * equals `--webhook-repo`, and its ref is `refs/heads/<--ref>`. The payload names a commit; the commit is always
 * fetched from `--sot`.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Who sent a delivery, by its signature header. */
export type WebhookProvider = "github" | "gitlab" | "gitea" | "forgejo" | "vaquero";

/** Largest webhook body read (GitHub caps its payloads at 25 MB, but pushes are a few KB to a few hundred). */
export const MAX_WEBHOOK_BYTES = 1024 * 1024;

/** The outcome of checking a delivery's signature. */
export type SignatureCheck = { ok: true; provider: WebhookProvider } | { ok: false; reason: string };

const HEX_SIG = /^[0-9a-f]{64}$/i;

/** Constant-time equality of two hex HMACs (lengths checked first; both are 64 hex digits when well-formed). */
function hmacMatches(secret: string, body: Uint8Array, hex: string): boolean {
  if (!HEX_SIG.test(hex)) return false;
  const want = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(want, Buffer.from(hex, "hex"));
}

/** Checks the delivery's signature against `secret`; the first signature header present decides the sender. */
export function verifySignature(headers: Headers, body: Uint8Array, secret: string): SignatureCheck {
  if (secret.length === 0) return { ok: false, reason: "no webhook secret is configured" };
  const github = headers.get("x-hub-signature-256");
  const vaquero = headers.get("x-vaquero-signature");
  const gitea = headers.get("x-gitea-signature");
  const forgejo = headers.get("x-forgejo-signature");
  const gitlab = headers.get("x-gitlab-token");
  const prefixed = (h: string): string => (h.startsWith("sha256=") ? h.slice(7) : "");
  if (github !== null) {
    // Gitea and Forgejo send X-Hub-Signature-256 too; their own header names them when present.
    const provider = forgejo !== null ? "forgejo" : gitea !== null ? "gitea" : "github";
    return hmacMatches(secret, body, prefixed(github.trim()))
      ? { ok: true, provider }
      : { ok: false, reason: "X-Hub-Signature-256 does not match the body" };
  }
  if (vaquero !== null) {
    return hmacMatches(secret, body, prefixed(vaquero.trim()))
      ? { ok: true, provider: "vaquero" }
      : { ok: false, reason: "X-Vaquero-Signature does not match the body" };
  }
  if (gitea !== null || forgejo !== null) {
    const provider = forgejo !== null ? "forgejo" : "gitea";
    return hmacMatches(secret, body, (forgejo ?? gitea ?? "").trim())
      ? { ok: true, provider }
      : { ok: false, reason: `X-${provider === "gitea" ? "Gitea" : "Forgejo"}-Signature does not match the body` };
  }
  if (gitlab !== null) {
    const a = createHash("sha256").update(gitlab, "utf8").digest();
    const b = createHash("sha256").update(secret, "utf8").digest();
    return timingSafeEqual(a, b) ? { ok: true, provider: "gitlab" } : { ok: false, reason: "X-Gitlab-Token is wrong" };
  }
  return {
    ok: false,
    reason: "no signature: want X-Hub-Signature-256, X-Gitlab-Token, X-Gitea-Signature, X-Forgejo-Signature or X-Vaquero-Signature",
  };
}

/** A push, as read from a signed delivery. */
export interface Push {
  provider: WebhookProvider;
  /** The delivery's id header, when the sender gives one (dedupes replays). */
  delivery?: string;
  /** The event name, when the sender gives one (`push`, `Push Hook`). */
  event?: string;
  ref: string;
  /** The commit the ref points at after the push (40 hex), or undefined. */
  after?: string;
  /** The repository's URLs as the payload names them. */
  urls: string[];
  /** `owner/name` (GitLab: `path_with_namespace`). */
  fullName?: string;
}

const DELIVERY_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const SHA_RE = /^[0-9a-f]{40}$/;

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 && v.length <= 2048 ? v : undefined);

/** Reads the push out of a signed delivery; undefined when the body is not a JSON object. */
export function parsePush(provider: WebhookProvider, headers: Headers, body: Uint8Array): Push | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: false }).decode(body));
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return undefined;
  const d = doc as Record<string, unknown>;
  const obj = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null ? (v as Record<string, unknown>) : {});
  const repo = obj(d.repository);
  const project = obj(d.project);
  const urls = [
    repo.clone_url,
    repo.ssh_url,
    repo.html_url,
    repo.git_http_url,
    repo.git_ssh_url,
    repo.url,
    repo.homepage,
    project.git_http_url,
    project.git_ssh_url,
    project.web_url,
  ]
    .map(str)
    .filter((u): u is string => u !== undefined);
  const fullName = str(repo.full_name) ?? str(project.path_with_namespace);
  const deliveryHeader =
    headers.get("x-github-delivery") ??
    headers.get("x-gitea-delivery") ??
    headers.get("x-forgejo-delivery") ??
    headers.get("x-gitlab-event-uuid") ??
    headers.get("x-vaquero-delivery");
  const event =
    headers.get("x-github-event") ?? headers.get("x-gitea-event") ?? headers.get("x-forgejo-event") ?? headers.get("x-gitlab-event");
  const after = str(d.after)?.toLowerCase();
  return {
    provider,
    ...(deliveryHeader && DELIVERY_RE.test(deliveryHeader) ? { delivery: deliveryHeader } : {}),
    ...(event ? { event: event.slice(0, 64) } : {}),
    ref: str(d.ref) ?? "",
    ...(after && SHA_RE.test(after) ? { after } : {}),
    urls,
    ...(fullName ? { fullName } : {}),
  };
}

/** A repository URL reduced to `host/path`: no scheme, credentials, port-less host case, `.git` or trailing slash. */
export function normaliseRepoUrl(url: string): string {
  let s = url.trim();
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/)(.+)$/.exec(s);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `ssh://${scp[1]}/${scp[2]}`;
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/]*@)?([^/]+)(\/.*)?$/i.exec(s);
  if (!m) return s.replace(/\/+$/, "").replace(/\.git$/, "");
  const host = (m[1] ?? "").toLowerCase().replace(/:(22|80|443)$/, "");
  const path = (m[2] ?? "")
    .replace(/\/+$/, "")
    .replace(/\.git$/, "")
    .replace(/\/+$/, "");
  return `${host}${path}`;
}

/** What a server accepts deliveries for. */
export interface WebhookTarget {
  /** `--sot` (a URL, or a path: then only `repo` can match). */
  sot: string;
  /** `--webhook-repo`: `owner/name`. */
  repo?: string;
  /** The branch compiled (`--ref`). */
  branch: string;
}

/** Whether a push is for this server: undefined when it is, else why it is ignored. */
export function ignoreReason(push: Push, target: WebhookTarget): string | undefined {
  if (push.event !== undefined && !/^(push|push hook)$/i.test(push.event)) return `event "${push.event}" is not a push`;
  const sot = normaliseRepoUrl(target.sot);
  const sameUrl = push.urls.some((u) => normaliseRepoUrl(u) === sot);
  const sameName = target.repo !== undefined && push.fullName !== undefined && push.fullName.toLowerCase() === target.repo.toLowerCase();
  if (!sameUrl && !sameName) return `repository ${JSON.stringify((push.fullName ?? push.urls[0] ?? "?").slice(0, 200))} is not --sot`;
  if (push.ref !== `refs/heads/${target.branch}`) return `ref ${JSON.stringify(push.ref.slice(0, 200))} is not refs/heads/${target.branch}`;
  if (push.after === undefined || /^0{40}$/.test(push.after)) return "the branch was deleted";
  return undefined;
}
