import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { etcdProtoJson, PROTO_JSON_PATH } from "./_etcd_protogen.ts";

test("the inlined etcd protocol matches the installed etcd3's .proto files (regenerate: bun pkg/store/_etcd_protogen.ts)", () => {
  expect(readFileSync(PROTO_JSON_PATH, "utf8")).toBe(etcdProtoJson());
});

test("the etcd backend loads etcd3 without reading .proto files", async () => {
  const { loadEtcd3 } = await import("./_etcd_load.ts");
  const protoLoader = (await import("@grpc/proto-loader")).default;
  const real = protoLoader.loadSync;
  const { Etcd3 } = await loadEtcd3();
  expect(typeof Etcd3).toBe("function");
  expect(protoLoader.loadSync).toBe(real);
});
