/**
 * Reads a SoT through git (isomorphic-git): a local repository in place (bare or with `.git`, through its object
 * database, never its work tree), or a smart-HTTP(S) remote fetched into a temporary bare repository. The tree
 * of a commit reads as a checkout of that commit read by the directory reader would: dot entries are left out,
 * symbolic links are followed while they stay inside the tree, submodules are skipped.
 *
 * Blocking: every call reads the object database on disk; `openGitSource` on a URL fetches all branches and tags
 * first. Each network request is abandoned when no byte arrives for `timeoutMs`.
 */
import * as fs from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import git, { type TreeEntry } from "isomorphic-git";
import { describeError, VaqueroError } from "../../internal/errors/index.ts";
import { errCode, fetchError, fetchHttp, gitError, stripCredentials } from "./_git_http.ts";
import { comparePaths, DANGLING_TARGET, type SourceFile, type SourceTree, sortFiles } from "./_tree.ts";

export { stripCredentials };

/** Options of {@link openGitSource}. */
export interface GitOptions {
  /** Longest wait for any byte of a network request, in ms (default 30000). */
  timeoutMs?: number;
  /** Largest file read, in bytes (default 16 MiB); bigger blobs are reported as "too-large". */
  maxFileBytes?: number;
  /** Where the temporary clone of a remote goes (default: the OS temp dir). */
  tmpDir?: string;
  /** Most files read from one tree before giving up with `SOT_GIT_READ` (default 200,000). */
  maxFiles?: number;
}

/** A git repository a SoT is read from. */
export interface GitSource {
  /** The path or URL as named by the user, credentials removed. */
  readonly location: string;
  /** Resolves a branch, tag (annotated or light) or full/abbreviated commit to a full commit SHA; undefined ref = HEAD. */
  resolve(ref?: string): Promise<string>;
  /**
   * Reads the whole tree of a commit. Symlinks (mode 120000) inside the tree are followed to their target blob
   * when the target stays inside the tree, else reported as problem "symlink-escape"; submodules (commit
   * entries) are skipped.
   */
  readTree(commit: string, ref?: string): Promise<SourceTree>;
  /** Removes any temporary clone. */
  dispose(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_FILES = 200_000;
/** Links followed while resolving one path before giving up (Linux MAXSYMLINKS). */
const MAX_LINK_HOPS = 40;
const SHA_RE = /^[0-9a-f]{40}$/i;
const LINK_MODE = "120000";

/** True for http:// and https:// URLs (the only remote kind supported). */
export function isGitUrl(s: string): boolean {
  return /^https?:\/\/[^/?#\s]/i.test(s) && URL.canParse(s);
}

/** True when `path` is a git repository: bare, or a work tree with `.git` (dir or gitfile). Never looks at enclosing directories. */
export async function isGitRepository(path: string): Promise<boolean> {
  return (await locate(path)) !== undefined;
}

/** Opens a local repository or fetches a remote one. Throws `VaqueroError` (exit 2) with a `SOT_GIT_*` code. */
export async function openGitSource(location: string, options: GitOptions = {}): Promise<GitSource> {
  const limits = { maxBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, maxFiles: options.maxFiles ?? DEFAULT_MAX_FILES };
  if (isGitUrl(location)) return openRemote(location, options, limits);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location) || /^[^\s/@:]+@[^\s/:]+:/.test(location)) {
    const shown = stripCredentials(location);
    const kind = /^[a-z][a-z0-9+.-]*:\/\//i.exec(location)?.[0].toLowerCase() ?? "ssh (scp-style)";
    const why = `${kind} URLs are not supported; use an http:// or https:// URL or a local path`;
    throw gitError("SOT_GIT_URL_UNSUPPORTED", `sot: cannot fetch ${shown}: ${why}`, shown);
  }
  const found = await locate(location);
  if (!found) throw gitError("SOT_GIT_NOT_REPO", `sot: ${location} is not a git repository`, location);
  if (await stat(join(found.gitdir, "objects/info/alternates")).catch(() => undefined)) {
    // isomorphic-git reads only a repository's own objects: a clone made with --shared or --reference is incomplete to it.
    throw gitError(
      "SOT_GIT_READ",
      `sot: cannot read ${location}: it borrows objects from another repository (objects/info/alternates)`,
      location,
    );
  }
  return new RepoSource(location, found.gitdir, found.headDir, limits);
}

/** The size limits of one read. */
type Limits = { maxBytes: number; maxFiles: number };

async function openRemote(url: string, options: GitOptions, limits: Limits): Promise<GitSource> {
  const location = stripCredentials(url);
  const tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), "vaquero-sot-"));
  const source = new RepoSource(location, tmp, tmp, limits, tmp);
  try {
    await git.init({ fs, gitdir: tmp, bare: true });
    await git.setConfig({ fs, gitdir: tmp, path: "remote.origin.url", value: location });
    // Branches land under refs/heads/ as on the remote, so refs resolve the same as in a local repository.
    await git.setConfig({ fs, gitdir: tmp, path: "remote.origin.fetch", value: "+refs/heads/*:refs/heads/*" });
    const http = fetchHttp(location, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const res = await git.fetch({ fs, http, gitdir: tmp, url: url.replace(/\/+$/, ""), tags: true, cache: source.cache });
    // The remote's HEAD: its default branch, or a detached commit (an empty remote leaves HEAD unborn).
    const head = res.defaultBranch ?? res.fetchHead;
    // The server names it: checked like any ref before it becomes a path under the clone.
    if (head && (SHA_RE.test(head) || (head.startsWith("refs/heads/") && validRefName(head))))
      await git.writeRef({ fs, gitdir: tmp, ref: "HEAD", value: head, symbolic: head.startsWith("refs/"), force: true });
    return source;
  } catch (e) {
    await source.dispose();
    throw fetchError(e, location);
  }
}

/** The git directory of `path` (its common dir, for objects and refs) and where its HEAD lives. */
async function locate(path: string): Promise<{ gitdir: string; headDir: string } | undefined> {
  try {
    const dotGit = join(path, ".git");
    const st = await stat(dotGit).catch(() => undefined);
    let dir: string | undefined = path;
    if (st?.isDirectory()) dir = dotGit;
    else if (st?.isFile()) {
      const m = /^gitdir:\s*(.+?)\s*$/m.exec(await readFile(dotGit, "utf8"));
      dir = m?.[1] ? resolvePath(path, m[1]) : undefined;
    }
    if (dir === undefined) return undefined;
    const head = (await readFile(join(dir, "HEAD"), "utf8")).trim();
    if (!/^ref: refs\/\S+$/.test(head) && !SHA_RE.test(head)) return undefined;
    const gitdir = await commonDir(dir);
    const [objects, refs] = await Promise.all([stat(join(gitdir, "objects")), stat(join(gitdir, "refs"))]);
    return objects.isDirectory() && refs.isDirectory() ? { gitdir, headDir: dir } : undefined;
  } catch {
    return undefined;
  }
}

/** A linked work tree (`git worktree add`) keeps HEAD in its own dir and the rest in a common dir. */
async function commonDir(dir: string): Promise<string> {
  try {
    return resolvePath(dir, (await readFile(join(dir, "commondir"), "utf8")).trim());
  } catch {
    return dir;
  }
}

/** False for names git could never store as a ref (check-ref-format), which are then never looked up. */
function validRefName(ref: string): boolean {
  return (
    ref !== "" && ref !== "@" && ref.length < 1024 && !/[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\/|\/\.|^[/.-]|[/.]$|\.lock(\/|$)/.test(ref)
  );
}

/** One step of a resolved path: the name and its tree entry. */
interface Step {
  name: string;
  entry: TreeEntry;
}

/** State of one tree walk: the root tree, the files found, and the real directories already listed through a link. */
interface Walk {
  root: TreeEntry;
  out: SourceFile[];
  visited: Set<string>;
}

type Followed = { kind: "escape" } | { kind: "dangling" } | { kind: "found"; steps: Step[] };

class RepoSource implements GitSource {
  /** isomorphic-git's cache (parsed pack indexes), shared by every call on this repository. */
  readonly cache: object = {};
  private readonly trees = new Map<string, Map<string, TreeEntry>>();

  constructor(
    readonly location: string,
    private readonly gitdir: string,
    private readonly headDir: string,
    private readonly limits: Limits,
    private readonly tmp?: string,
  ) {}

  async resolve(ref?: string): Promise<string> {
    try {
      if (ref === undefined || ref === "HEAD") return (await this.resolveHead()).commit;
      if (!validRefName(ref)) throw this.unknown(ref);
      if (SHA_RE.test(ref)) return await this.peel(ref.toLowerCase(), ref);
      const candidates = ref.startsWith("refs/")
        ? [ref]
        : [`refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`, `refs/remotes/${ref}`, `refs/remotes/${ref}/HEAD`];
      for (const candidate of candidates) {
        const oid = await git.resolveRef({ fs, gitdir: this.gitdir, ref: candidate }).catch((e: unknown) => {
          if (errCode(e) === "NotFoundError") return undefined;
          throw e;
        });
        if (oid) return await this.peel(oid, ref);
      }
      if (/^[0-9a-f]{4,39}$/i.test(ref)) {
        const oid = await git.expandOid({ fs, gitdir: this.gitdir, oid: ref.toLowerCase(), cache: this.cache }).catch((e: unknown) => {
          if (errCode(e) === "AmbiguousError") {
            throw gitError("SOT_GIT_REF_UNKNOWN", `sot: ref "${ref}" is ambiguous in ${this.location}`, this.location, e);
          }
          if (errCode(e) === "NotFoundError") throw this.unknown(ref, e);
          throw e;
        });
        return await this.peel(oid, ref);
      }
      throw this.unknown(ref);
    } catch (e) {
      throw this.readError(e);
    }
  }

  async readTree(commit: string, ref?: string): Promise<SourceTree> {
    try {
      const oid = SHA_RE.test(commit) ? await this.peel(commit.toLowerCase(), commit) : await this.resolve(commit);
      const { commit: parsed } = await git.readCommit({ fs, gitdir: this.gitdir, oid, cache: this.cache });
      const files: SourceFile[] = [];
      const root: TreeEntry = { mode: "040000", path: "", oid: parsed.tree, type: "tree" };
      await this.walk(root, "", [], { root, out: files, visited: new Set([""]) });
      const head = ref === undefined ? await this.resolveHead().catch(() => undefined) : undefined;
      const shownRef = ref ?? (head?.commit === oid ? head.branch : undefined);
      return { kind: "git", location: this.location, commit: oid, ...(shownRef ? { ref: shownRef } : {}), files: sortFiles(files) };
    } catch (e) {
      throw this.readError(e);
    }
  }

  async dispose(): Promise<void> {
    if (this.tmp !== undefined) await rm(this.tmp, { recursive: true, force: true });
  }

  private unknown(ref: string, cause?: unknown): VaqueroError {
    return gitError("SOT_GIT_REF_UNKNOWN", `sot: ref "${ref}" not found in ${this.location}`, this.location, cause);
  }

  private readError(e: unknown): VaqueroError {
    if (e instanceof VaqueroError) return e;
    return gitError("SOT_GIT_READ", `sot: cannot read git repository ${this.location}: ${describeError(e)}`, this.location, e);
  }

  /** HEAD read from the repository's own HEAD file (the work tree's, for a linked work tree). */
  private async resolveHead(): Promise<{ commit: string; branch: string | undefined }> {
    const text = (await readFile(join(this.headDir, "HEAD"), "utf8")).trim();
    const symbolic = /^ref:\s*(refs\/\S+)$/.exec(text)?.[1];
    let oid = text.toLowerCase();
    if (symbolic !== undefined) {
      if (!validRefName(symbolic)) throw this.unknown("HEAD");
      oid = await git.resolveRef({ fs, gitdir: this.gitdir, ref: symbolic }).catch((e: unknown) => {
        throw errCode(e) === "NotFoundError" ? this.unknown("HEAD", e) : e;
      });
    } else if (!SHA_RE.test(oid)) {
      throw this.unknown("HEAD");
    }
    return { commit: await this.peel(oid, "HEAD"), branch: symbolic?.replace(/^refs\/heads\//, "") };
  }

  /** Follows annotated tags down to a commit. */
  private async peel(oid: string, asked: string): Promise<string> {
    let current = oid;
    for (let hop = 0; hop < 16; hop++) {
      const obj = await git.readObject({ fs, gitdir: this.gitdir, oid: current, cache: this.cache }).catch((e: unknown) => {
        throw errCode(e) === "NotFoundError" ? this.unknown(asked, e) : e;
      });
      if (obj.type === "commit") return current;
      if (obj.type !== "tag") {
        throw gitError("SOT_GIT_REF_UNKNOWN", `sot: ref "${asked}" names a ${obj.type}, not a commit, in ${this.location}`, this.location);
      }
      current = (obj.object as { object: string }).object;
    }
    throw this.unknown(asked);
  }

  private async entries(treeOid: string): Promise<Map<string, TreeEntry>> {
    let map = this.trees.get(treeOid);
    if (!map) {
      const { tree } = await git.readTree({ fs, gitdir: this.gitdir, oid: treeOid, cache: this.cache });
      map = new Map(tree.map((e) => [e.path, e]));
      this.trees.set(treeOid, map);
    }
    return map;
  }

  private async blob(oid: string): Promise<Uint8Array> {
    const { blob } = await git.readBlob({ fs, gitdir: this.gitdir, oid, cache: this.cache });
    return new Uint8Array(blob); // a copy: never a view into a cached pack
  }

  /** Resolves a link `target` written in the directory reached by `dir`, as realpath(3) would in a checkout. */
  private async follow(dir: Step[], target: string, root: TreeEntry): Promise<Followed> {
    if (target.startsWith("/")) return { kind: "escape" };
    const steps = [...dir];
    let parts = target.split("/");
    let mustBeDir = false;
    let hops = 0;
    while (parts.length > 0) {
      const part = parts.shift() ?? "";
      mustBeDir = part === "" || part === "." || part === "..";
      if (part === "" || part === ".") continue;
      if (part === "..") {
        if (steps.length === 0) return { kind: "escape" };
        steps.pop();
        continue;
      }
      const parent = steps.at(-1)?.entry ?? root;
      const entry = parent.type === "tree" ? (await this.entries(parent.oid)).get(part) : undefined;
      if (!entry) return { kind: "dangling" };
      if (entry.mode === LINK_MODE) {
        if (++hops > MAX_LINK_HOPS) return { kind: "dangling" };
        const next = new TextDecoder().decode(await this.blob(entry.oid));
        if (next.startsWith("/")) return { kind: "escape" };
        parts = [...next.split("/"), ...parts];
        continue;
      }
      steps.push({ name: part, entry });
    }
    const last = steps.at(-1)?.entry;
    if (mustBeDir && last && last.type === "blob") return { kind: "dangling" };
    return { kind: "found", steps };
  }

  /** Lists `tree` under `rel`; `real` is where the tree really is (a link's target path), for relative links. */
  private async walk(tree: TreeEntry, rel: string, real: Step[], walk: Walk): Promise<void> {
    const { root, out, visited } = walk;
    const entries = [...(await this.entries(tree.oid)).values()].sort((a, b) => comparePaths(a.path, b.path));
    for (const e of entries) {
      if (e.path.startsWith(".")) continue;
      const path = rel ? `${rel}/${e.path}` : e.path;
      if (e.type === "tree") {
        await this.walk(e, path, [...real, { name: e.path, entry: e }], walk);
      } else if (e.type === "blob" && e.mode !== LINK_MODE) {
        await this.file(path, e.oid, out);
      } else if (e.mode === LINK_MODE) {
        const target = new TextDecoder().decode(await this.blob(e.oid));
        const r = await this.follow(real, target, root);
        if (r.kind !== "found") {
          out.push({ path, size: 0, problem: "symlink-escape", target: r.kind === "escape" ? target : DANGLING_TARGET });
          continue;
        }
        const last = r.steps.at(-1)?.entry ?? root;
        if (last.type === "blob") {
          await this.file(path, last.oid, out);
          continue;
        }
        // A directory (or a submodule, an empty directory in a checkout) is listed once, as the dir reader does.
        const key = r.steps.map((s) => s.name).join("/");
        if (visited.has(key)) continue;
        visited.add(key);
        if (last.type === "tree") await this.walk(last, path, r.steps, walk);
      }
      // Commit entries (submodules) are skipped.
    }
  }

  private async file(path: string, oid: string, out: SourceFile[]): Promise<void> {
    if (out.length >= this.limits.maxFiles) {
      throw gitError("SOT_GIT_READ", `sot: ${this.location} holds more than ${this.limits.maxFiles} files`, this.location);
    }
    const data = await this.blob(oid);
    if (data.length > this.limits.maxBytes) out.push({ path, size: data.length, problem: "too-large" });
    else out.push({ path, size: data.length, data });
  }
}
