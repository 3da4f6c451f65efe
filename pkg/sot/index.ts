/**
 * pkg/sot — the Source of Truth: load (directory, local git at a ref, remote smart HTTP), validate every rule of
 * the SoT format, render every template for every host, and compile one canonical, content-addressed bundle
 * per site.
 *
 * @example
 * const src = await openSource("examples/sot");
 * try {
 *   const result = await compileTree(src.tree, { readPin: src.readPin });
 *   for (const f of result.findings) console.log(`${f.file}:${f.line}: ${f.code} ${f.message}`);
 *   if (result.valid) console.log(result.release?.id);
 * } finally {
 *   await src.dispose();
 * }
 */
export {
  BUNDLE_FORMAT,
  type Bundle,
  type BundleBoot,
  type BundleHost,
  type BundleOs,
  type BundleWorkflow,
  type CmdEntry,
  durationSeconds,
} from "./_bundle.ts";
export { canonicalJson, sha256Hex } from "./_canonical.ts";
export {
  type CompiledSite,
  type CompileOptions,
  type CompileResult,
  compileTree,
  type PinReader,
  type Release,
} from "./_compile.ts";
export { readDirTree } from "./_dir.ts";
export { FINDING_CODES, type Finding, type FindingCode, type Severity } from "./_findings.ts";
export { type GitOptions, type GitSource, isGitRepository, isGitUrl, openGitSource, stripCredentials } from "./_git.ts";
export { checkIgnition, type IgnitionProblem } from "./_ignition.ts";
export { sotJsonSchema } from "./_jsonschema.ts";
export {
  assetUrl,
  createRenderer,
  MAX_CMDLINE_BYTES,
  RenderError,
  type RenderedBoot,
  type RenderedConfig,
  type Renderer,
  type TemplateRef,
} from "./_render.ts";
export type { BmcDoc, NicDoc, SubnetDoc } from "./_schema.ts";
export { type OpenedSource, type OpenOptions, openSource } from "./_source.ts";
export type { SourceFile, SourceTree } from "./_tree.ts";
