/**
 * Loading the etcd3 client with its protocol inlined (private). etcd3 builds its gRPC services when its
 * `connection-pool` module is first evaluated, by calling `@grpc/proto-loader`'s `loadSync` on
 * `<etcd3>/proto/rpc.proto`: a path on the build machine, which a compiled `vaquero` binary cannot read. So,
 * for the one moment etcd3 is imported, `loadSync` answers that request from `_etcd_proto.json` (the same
 * protocol as a JSON descriptor, bundled into the binary like any other import) through `fromJSON`, with the
 * options etcd3 asked for. Every other call goes to the real `loadSync`. Tests and the binary take the same path.
 */
import protoLoader from "@grpc/proto-loader";
import descriptor from "./_etcd_proto.json" with { type: "json" };

/** The etcd3 module's exports. */
export type Etcd3Module = typeof import("etcd3");

let loading: Promise<Etcd3Module> | undefined;

/** etcd3, loaded once per process with the inlined protocol. */
export function loadEtcd3(): Promise<Etcd3Module> {
  if (!loading) loading = importWithInlinedProtos();
  return loading;
}

async function importWithInlinedProtos(): Promise<Etcd3Module> {
  // The CommonJS exports object of @grpc/proto-loader, which etcd3 reads `loadSync` from at call time.
  const loader = protoLoader as { loadSync: typeof protoLoader.loadSync };
  const real = loader.loadSync;
  loader.loadSync = (filename, options) => {
    const name = Array.isArray(filename) ? "" : String(filename);
    if (!/[\\/]proto[\\/]rpc\.proto$/.test(name)) return real(filename, options);
    // The JSON import is typed by its shape; fromJSON wants protobufjs' INamespace, which that shape is.
    return protoLoader.fromJSON(descriptor as Parameters<typeof protoLoader.fromJSON>[0], options);
  };
  try {
    return await import("etcd3");
  } finally {
    loader.loadSync = real;
  }
}
