/**
 * Serves every bare repository under a directory over git smart HTTP, the way a real forge does: `git
 * http-backend` run as a CGI program behind `Bun.serve`, on 127.0.0.1 and a free port.
 *
 * @example
 * const server = await startGitHttp("/tmp/repos"); // holds site.git
 * const source = await openGitSource(`${server.url}/site.git`);
 * await server.stop();
 */

/** A running smart-HTTP git server. */
export interface GitHttpServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`; a repository `<root>/r.git` is at `${url}/r.git`. */
  url: string;
  /** Stops the server and closes open connections. */
  stop(): Promise<void>;
}

/** Starts serving the bare repositories under `root` (read-only: upload-pack only). */
export async function startGitHttp(root: string): Promise<GitHttpServer> {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req: Request): Promise<Response> {
      const url = new URL(req.url);
      const body = new Uint8Array(await req.arrayBuffer());
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        GATEWAY_INTERFACE: "CGI/1.1",
        SERVER_PROTOCOL: "HTTP/1.1",
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REMOTE_ADDR: "127.0.0.1",
        CONTENT_LENGTH: String(body.length),
      };
      const type = req.headers.get("content-type");
      if (type) env.CONTENT_TYPE = type;
      // Every request header also goes as HTTP_<NAME> (Git-Protocol, Content-Encoding, …).
      req.headers.forEach((value, key) => {
        env[`HTTP_${key.toUpperCase().replaceAll("-", "_")}`] = value;
      });
      const proc = Bun.spawn(["git", "http-backend"], { env, stdin: body, stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0 && out.byteLength === 0) return new Response(`git http-backend failed: ${err}`, { status: 500 });
      return cgiResponse(new Uint8Array(out));
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    async stop(): Promise<void> {
      await server.stop(true);
    },
  };
}

/** Splits a CGI answer into headers (with `Status:`) and body. */
function cgiResponse(out: Uint8Array): Response {
  let end = -1;
  let skip = 0;
  for (let i = 0; i < out.length - 1; i++) {
    if (out[i] === 10 && out[i + 1] === 10) {
      end = i;
      skip = 2;
      break;
    }
    if (out[i] === 13 && out[i + 1] === 10 && out[i + 2] === 13 && out[i + 3] === 10) {
      end = i;
      skip = 4;
      break;
    }
  }
  if (end < 0) return new Response("malformed CGI answer", { status: 502 });
  const headers = new Headers();
  let status = 200;
  let statusText = "OK";
  for (const line of new TextDecoder().decode(out.subarray(0, end)).split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") {
      status = Number.parseInt(value, 10) || 500;
      statusText = value.replace(/^\d+\s*/, "");
    } else headers.append(name, value);
  }
  const noBody = status === 204 || status === 304;
  return new Response(noBody ? null : out.subarray(end + skip), { status, statusText, headers });
}
