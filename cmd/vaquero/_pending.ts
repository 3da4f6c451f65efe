/**
 * Verbs of the command-line contract that are not built yet. Their flags and help are real, so scripts and
 * docs can rely on them; running one says so in one line and exits 2.
 */
import type { FlagSpec } from "../../internal/config/index.ts";

/** A verb that parses its flags and answers --help, but does not run yet. */
export interface PendingVerb {
  synopsis: string;
  description: string;
  flags: FlagSpec[];
}

/** The pending verbs and their flags (ARCHITECTURE.md "Command line"); every verb is built today. */
export const PENDING: Record<string, PendingVerb> = {};
