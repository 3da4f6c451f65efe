#!/usr/bin/env bun
/** Entry point of the `vaquero` binary: a shim over {@link run}. (No top-level await: the binary is bytecode-compiled.) */
import { processIo } from "../../internal/cli/index.ts";
import { run } from "./run.ts";

void run(process.argv.slice(2), processIo()).then((code) => {
  process.exitCode = code;
});
