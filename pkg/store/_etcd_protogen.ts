/**
 * Generates `_etcd_proto.json`: etcd's gRPC protocol (the `.proto` files shipped with the etcd3 package) as a
 * protobufjs JSON descriptor, so that the etcd backend never reads `.proto` files at run time (the compiled binary
 * has no `node_modules`). Run `bun pkg/store/_etcd_protogen.ts` after upgrading etcd3; `etcd-proto.test.ts` checks
 * that the committed file matches the installed package.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

/** The descriptor of etcd3's `proto/rpc.proto` (with kv.proto and auth.proto), as canonical JSON text. */
export function etcdProtoJson(): string {
  const dir = join(dirname(require.resolve("etcd3/package.json")), "proto");
  const root = new protobuf.Root();
  // The options etcd3 itself loads with (keepCase keeps snake_case field names such as create_revision).
  root.loadSync(join(dir, "rpc.proto"), { keepCase: true });
  root.resolveAll();
  return `${JSON.stringify(root.toJSON())}\n`;
}

/** Where the descriptor is committed. */
export const PROTO_JSON_PATH = join(import.meta.dir, "_etcd_proto.json");

if (import.meta.main) {
  writeFileSync(PROTO_JSON_PATH, etcdProtoJson());
  console.log(`wrote ${PROTO_JSON_PATH}`);
}
