/**
 * A child process for test/store-crash.test.ts: opens the embedded store at argv[2] and writes as fast as it can,
 * printing `ack <key> <revision>` after each acknowledged write, until killed or its bounds (argv[3] writes,
 * 30 s) run out. Every other write is a two-key transaction, so a torn transaction would show.
 */
import { openEmbeddedStore } from "../../pkg/store/index.ts";

const [path, maxArg, run] = [process.argv[2] ?? "", Number(process.argv[3] ?? 100_000), process.argv[4] ?? "0"];
const store = await openEmbeddedStore({ path, leaseCheckMs: false });
process.stdout.write("open\n");
const until = Date.now() + 30_000;
for (let i = 0; i < maxArg && Date.now() < until; i++) {
  const key = `/crash/${run}/${i}`;
  if (i % 2 === 0) {
    const rev = await store.put(key, `v${i}`);
    process.stdout.write(`ack ${key} ${rev}\n`);
  } else {
    const t = await store.txn({
      compare: [],
      success: [{ put: { key, value: `v${i}` } }, { put: { key: `${key}/pair`, value: `v${i}` } }],
    });
    process.stdout.write(`ack ${key} ${t.revision}\nack ${key}/pair ${t.revision}\n`);
  }
}
await store.close();
process.stdout.write("done\n");
