/**
 * JSON Schema (draft-07) of the SoT documents, generated from the same valibot schemas the validator uses, so
 * editors can complete and check SoT files (e.g. with a `# yaml-language-server: $schema=…` line).
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import { BmcSchema, BootSchema, EnvSchema, HostSchema, NicSchema, OsSchema, WorkflowSchema } from "./_schema.ts";

/** The JSON Schema of every document kind, keyed by kind, with the file patterns each applies to. */
export function sotJsonSchema(): Record<string, unknown> {
  const convert = (schema: v.GenericSchema): Record<string, unknown> =>
    toJsonSchema(schema, { errorMode: "ignore" }) as unknown as Record<string, unknown>;
  // The validator picks a host interface's schema by its `type` key (v.lazy); JSON Schema says the same with anyOf.
  const host = convert(v.strictObject({ ...HostSchema.entries, interfaces: v.array(v.union([NicSchema, BmcSchema])) }));
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "Vaquero Source of Truth documents",
    documents: {
      os: { files: ["os/**/*.yml", "os/**/*.yaml", "os/**/*.json"], schema: convert(OsSchema) },
      boot: { files: ["boot/**/*.yml", "boot/**/*.yaml", "boot/**/*.json"], schema: convert(BootSchema) },
      workflow: { files: ["workflows/**/*.yml", "workflows/**/*.yaml", "workflows/**/*.json"], schema: convert(WorkflowSchema) },
      env: { files: ["sites/*/env.yml", "sites/*/env.yaml", "sites/*/env.json"], schema: convert(EnvSchema) },
      cluster: {
        files: ["sites/*/cluster-*.yml", "sites/*/cluster-*.yaml", "sites/*/cluster-*.json"],
        schema: {
          $schema: "http://json-schema.org/draft-07/schema#",
          type: "object",
          properties: { hosts: { type: "array", items: host } },
          required: ["hosts"],
          additionalProperties: false,
        },
      },
    },
  };
}
