import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { ignoreReason, normaliseRepoUrl, parsePush, verifySignature } from "./_webhook.ts";

const SECRET = "s3cret";
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const hmac = (body: Uint8Array, secret = SECRET): string => createHmac("sha256", secret).update(body).digest("hex");
const body = enc(
  JSON.stringify({
    ref: "refs/heads/main",
    after: "a".repeat(40),
    repository: { clone_url: "https://git.example.com/infra/sot.git", full_name: "infra/sot" },
  }),
);

describe("webhook signatures", () => {
  test("GitHub, Gitea, Forgejo, generic and GitLab deliveries with the right secret pass", () => {
    expect(verifySignature(new Headers({ "x-hub-signature-256": `sha256=${hmac(body)}` }), body, SECRET)).toEqual({
      ok: true,
      provider: "github",
    });
    expect(verifySignature(new Headers({ "x-gitea-signature": hmac(body) }), body, SECRET)).toEqual({ ok: true, provider: "gitea" });
    expect(verifySignature(new Headers({ "x-forgejo-signature": hmac(body) }), body, SECRET)).toEqual({ ok: true, provider: "forgejo" });
    expect(verifySignature(new Headers({ "x-vaquero-signature": `sha256=${hmac(body)}` }), body, SECRET)).toEqual({
      ok: true,
      provider: "vaquero",
    });
    expect(verifySignature(new Headers({ "x-gitlab-token": SECRET }), body, SECRET)).toEqual({ ok: true, provider: "gitlab" });
  });

  test("every byte flipped, a wrong secret, a missing header, or a malformed signature fails", () => {
    const sig = `sha256=${hmac(body)}`;
    for (let i = 0; i < body.length; i++) {
      const flipped = body.slice();
      flipped[i] = (flipped[i] ?? 0) ^ 1;
      expect(verifySignature(new Headers({ "x-hub-signature-256": sig }), flipped, SECRET).ok).toBe(false);
    }
    expect(verifySignature(new Headers({ "x-hub-signature-256": `sha256=${hmac(body, "other")}` }), body, SECRET).ok).toBe(false);
    expect(verifySignature(new Headers({ "x-gitea-signature": hmac(body, "other") }), body, SECRET).ok).toBe(false);
    expect(verifySignature(new Headers({ "x-gitlab-token": "s3cre" }), body, SECRET).ok).toBe(false);
    expect(verifySignature(new Headers({ "x-gitlab-token": `${SECRET}x` }), body, SECRET).ok).toBe(false);
    expect(verifySignature(new Headers(), body, SECRET).ok).toBe(false);
    expect(verifySignature(new Headers({ "x-hub-signature-256": hmac(body) }), body, SECRET).ok).toBe(false); // no sha256=
    expect(verifySignature(new Headers({ "x-hub-signature-256": "sha256=zz" }), body, SECRET).ok).toBe(false);
    expect(verifySignature(new Headers({ "x-hub-signature-256": sig }), body, "").ok).toBe(false);
  });
});

describe("webhook matching", () => {
  const target = { sot: "https://git.example.com/infra/sot.git", branch: "main" };
  const push = (over: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
    parsePush(
      "github",
      new Headers({ "x-github-event": "push", "x-github-delivery": "d-1", ...headers }),
      enc(JSON.stringify({ ref: "refs/heads/main", after: "b".repeat(40), repository: { clone_url: target.sot }, ...over })),
    );

  test("URLs are compared normalised", () => {
    const n = normaliseRepoUrl("https://git.example.com/infra/sot.git");
    for (const u of [
      "https://git.example.com/infra/sot",
      "http://user:pw@GIT.example.com/infra/sot/",
      "git@git.example.com:infra/sot.git",
      "ssh://git@git.example.com/infra/sot.git",
      "https://git.example.com:443/infra/sot.git",
    ])
      expect(normaliseRepoUrl(u)).toBe(n);
    expect(normaliseRepoUrl("https://git.example.com/infra/other.git")).not.toBe(n);
  });

  test("a push of the branch of --sot is accepted; other repository, branch, event or a deletion is ignored with why", () => {
    const p = push();
    expect(p?.delivery).toBe("d-1");
    expect(p && ignoreReason(p, target)).toBeUndefined();
    const other = push({ repository: { clone_url: "https://git.example.com/infra/other.git", full_name: "infra/other" } });
    expect(other && ignoreReason(other, target)).toContain("is not --sot");
    const branch = push({ ref: "refs/heads/dev" });
    expect(branch && ignoreReason(branch, target)).toContain("is not refs/heads/main");
    const tag = push({ ref: "refs/tags/main" });
    expect(tag && ignoreReason(tag, target)).toContain("is not refs/heads/main");
    const ping = push({}, { "x-github-event": "ping" });
    expect(ping && ignoreReason(ping, target)).toContain("not a push");
    const deleted = push({ after: "0".repeat(40) });
    expect(deleted && ignoreReason(deleted, target)).toBe("the branch was deleted");
  });

  test("--webhook-repo matches by full name; GitLab's project fields are read", () => {
    const p = push({ repository: { clone_url: "https://mirror.example.com/x.git", full_name: "Infra/SoT" } });
    expect(p && ignoreReason(p, { ...target, repo: "infra/sot" })).toBeUndefined();
    const gl = parsePush(
      "gitlab",
      new Headers({ "x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "u-1" }),
      enc(
        JSON.stringify({
          ref: "refs/heads/main",
          after: "c".repeat(40),
          project: { git_http_url: target.sot, path_with_namespace: "infra/sot" },
        }),
      ),
    );
    expect(gl?.delivery).toBe("u-1");
    expect(gl && ignoreReason(gl, target)).toBeUndefined();
  });

  test("a body that is not a JSON object is no push", () => {
    expect(parsePush("github", new Headers(), enc("not json"))).toBeUndefined();
    expect(parsePush("github", new Headers(), enc("[1]"))).toBeUndefined();
  });
});
