/**
 * Real TFTP clients (Debian packages) driven from tests and benchmarks: tftp-hpa's `tftp`, `curl tftp://` and
 * `atftp`. A missing client throws an error naming its Debian package: tests fail, they never skip.
 */

/** Outcome of one client run. */
export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Debian package of each client binary. */
export const CLIENT_PACKAGES = { tftp: "tftp-hpa", curl: "curl", atftp: "atftp" } as const;

/** The absolute path of a client, or an error naming the Debian package to install. */
export function requireClient(bin: keyof typeof CLIENT_PACKAGES): string {
  const path = Bun.which(bin);
  if (!path)
    throw new Error(
      `${bin} not found on PATH: install the Debian package ${CLIENT_PACKAGES[bin]} (apt-get install -y ${CLIENT_PACKAGES[bin]})`,
    );
  return path;
}

/** Runs `argv` in `cwd`, killed after `timeoutMs`. */
export async function run(argv: string[], cwd: string, timeoutMs = 20_000): Promise<ClientRun> {
  const started = performance.now();
  const proc = Bun.spawn(argv, { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
    if (proc.exitCode === null) proc.kill("SIGKILL");
  }
}

/** tftp-hpa in binary mode (512-byte blocks, no options). */
export function tftpHpa(port: number, remote: string, local: string, cwd: string): Promise<ClientRun> {
  return run([requireClient("tftp"), "-m", "binary", "127.0.0.1", String(port), "-c", "get", remote, local], cwd);
}

/** curl with `--tftp-blksize`; `remote` is the URL path after the host (a leading `/` is sent as part of the name). */
export function curlTftp(port: number, remote: string, local: string, cwd: string, blksize?: number): Promise<ClientRun> {
  const args = [requireClient("curl"), "-sS", "--max-time", "20", "-o", local];
  if (blksize !== undefined) args.push("--tftp-blksize", String(blksize));
  return run([...args, `tftp://127.0.0.1:${port}/${remote}`], cwd);
}

/** atftp with blksize and windowsize options (RFC 2348, RFC 7440). */
export function atftp(
  port: number,
  remote: string,
  local: string,
  cwd: string,
  blksize: number,
  windowsize: number,
  timeoutMs?: number,
): Promise<ClientRun> {
  return run(
    [
      requireClient("atftp"),
      "--option",
      `blksize ${blksize}`,
      "--option",
      `windowsize ${windowsize}`,
      "-g",
      "-r",
      remote,
      "-l",
      local,
      "127.0.0.1",
      String(port),
    ],
    cwd,
    timeoutMs,
  );
}
