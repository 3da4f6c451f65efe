/** Scratch git repositories for tests, made with the git CLI. */

/** Runs git in `dir` with a fixed identity; throws with git's stderr on failure. */
export function git(dir: string, ...args: string[]): string {
  const r = Bun.spawnSync(
    ["git", "-C", dir, "-c", "user.email=test@vaquero.invalid", "-c", "user.name=Vaquero Test", "-c", "init.defaultBranch=main", ...args],
    {
      stdout: "pipe",
      stderr: "pipe",
      env: {
        ...process.env,
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_AUTHOR_DATE: "2026-01-01T00:00:00Z",
        GIT_COMMITTER_DATE: "2026-01-01T00:00:00Z",
      },
    },
  );
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

/** `git init` + add everything + commit; returns the commit SHA. */
export function commitAll(dir: string, message = "commit"): string {
  if (Bun.spawnSync(["git", "-C", dir, "rev-parse", "--git-dir"], { stderr: "pipe" }).exitCode !== 0) git(dir, "init", "-q");
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "--allow-empty", "-m", message);
  return git(dir, "rev-parse", "HEAD");
}
