/**
 * A leader-election contender process for the failover test and benchmark: campaigns with pkg/coord on etcd and
 * prints one line per transition on stdout: `READY <name>` once its session exists, `LEADER <name> <epoch ms>` when
 * it becomes leader, `LOST <name> <reason>` when its session ends (then it exits 3). Killing it with SIGKILL is how
 * a leader crash is simulated.
 *
 * usage: bun bench/store/contender.ts ENDPOINTS(comma-separated) NAME [TTL-SECONDS] [PREFIX]
 */
import { createElection, createSession } from "../../pkg/coord/index.ts";
import { openEtcdStore } from "../../pkg/store/index.ts";

const [endpoints, name, ttl = "2", prefix = "/vaquero/leader/"] = process.argv.slice(2);
if (!endpoints || !name) {
  console.error("usage: contender.ts ENDPOINTS NAME [TTL-SECONDS] [PREFIX]");
  process.exit(2);
}
const store = await openEtcdStore({ endpoints: endpoints.split(","), dialTimeoutMs: 5000, requestTimeoutMs: 1000 });
const session = await createSession(store, { ttlSeconds: Number(ttl) });
console.log(`READY ${name}`);
const election = createElection(session, prefix);
session.done.then((end) => {
  console.log(`LOST ${name} ${end.reason}`);
  process.exit(3);
});
await election.campaign(name);
console.log(`LEADER ${name} ${Date.now()}`);
// Leader work would run here until session.done; the process stays up until killed.
setInterval(() => {}, 60_000);
