#!/usr/bin/env bun
/** Entry point of the `vaquero` binary: a shim over {@link run}. */
import { processIo } from "../../internal/cli/index.ts";
import { run } from "./run.ts";

process.exitCode = await run(process.argv.slice(2), processIo());
