/**
 * pkg/control — the control plane's logic without HTTP: site bundles stored as content-addressed chunks,
 * releases compiled from the SoT and published (bundles first, the record last), which hosts a release changes,
 * webhook signatures and matching, the desired release of each site (`/prepare`), and the fleet view.
 *
 * @example
 * const releaser = createReleaser({ store, sot: "https://git.example.com/infra/sot.git", ref: "main", timeoutMs: 30_000, log });
 * const { release } = await releaser.compile({ trigger: "api" });
 * if (release.status === "valid") await prepareRelease(store, { release: release.id, by: "admin", now: new Date() });
 * console.log(await fleetStatus(store, "main"));
 */
export {
  BLOB_PREFIX,
  BUNDLE_PREFIX,
  type BundleManifest,
  CHUNK_BYTES,
  getBundle,
  getBundleManifest,
  isSha256,
  putBundle,
  putChunks,
  readChunks,
  sha256Bytes,
} from "./_blobs.ts";
// The agent link (server side, agent outbox and client).
export {
  appendCommand,
  type CommandKind,
  type CommandPolicy,
  commandKey,
  commandsAfter,
  commandsPrefix,
  commandsSeqKey,
  MAX_COMMANDS_READ,
  type SiteCommand,
  sitePrefix,
} from "./_commands.ts";
export { type CompileOutcome, type CompileRequest, createReleaser, type Releaser, type ReleaserOptions } from "./_compile.ts";
export { type DesiredRecord, desiredKey, getDesired, type PrepareRequest, prepareRelease, SITE_INDEX_PREFIX } from "./_desired.ts";
export { diffHosts, type Fingerprints, type HostsDiff, hostFingerprints } from "./_diff.ts";
export {
  type AgentRecord,
  fleetStatus,
  knownSites,
  MAX_SITE_RECORDS,
  type MachineLine,
  type SiteStatus,
  STATUS_ROLLOUTS,
  siteStatus,
} from "./_fleet.ts";
// Servers on etcd: leadership, the compile queue, --auto-execute.
export {
  type CoordElection,
  type Coordination,
  type CoordSession,
  ELECTION_PREFIX,
  type LeaderRole,
  type Leadership,
  type LeadershipOptions,
  type LeaderTerm,
  leaderName,
  notLeader,
  type Readiness,
  startLeadership,
} from "./_leader.ts";
export { AUTO_EXECUTE_PREFIX, type AutoExecuteResult, autoExecute, autoExecuteLatest, autoRolloutId } from "./_leader_auto.ts";
export {
  createLink,
  entryProblem,
  LINK_KEYS,
  type Link,
  type LinkAgentRecord,
  type LinkDesired,
  type LinkEntry,
  type LinkOptions,
  MAX_EVENTS_PER_BATCH,
  MAX_WAIT_MS,
  type PollAnswer,
} from "./_link.ts";
export { createLinkClient, type LinkClient, type LinkClientOptions, type LinkTls, MAX_BUNDLE_BYTES } from "./_linkclient.ts";
export {
  OUTBOX_ACKED_KEY,
  OUTBOX_LAST_KEY,
  OUTBOX_PREFIX,
  type Outbox,
  type OutboxOptions,
  type OutboxTransport,
  openOutbox,
} from "./_outbox.ts";
export {
  alreadyReleased,
  COMPILE_QUEUE_PREFIX,
  createSubmitter,
  type DrainOptions,
  drainQueue,
  enqueueCompile,
  type QueuedCompile,
  type SubmitOutcome,
  type SubmitterOptions,
} from "./_queue.ts";
export {
  commitKey,
  createPublisher,
  getRelease,
  isReleaseId,
  latestOf,
  listReleases,
  MAX_RELEASE_LIST,
  MAX_STORED_FINDINGS,
  type Publisher,
  type PublishInput,
  RELEASE_PREFIX,
  type ReleaseRecord,
  type ReleaseSite,
  type ReleaseSummary,
  refLatestKey,
  releaseOfCommit,
} from "./_releases.ts";
export {
  ignoreReason,
  MAX_WEBHOOK_BYTES,
  normaliseRepoUrl,
  type Push,
  parsePush,
  type SignatureCheck,
  verifySignature,
  type WebhookProvider,
  type WebhookTarget,
} from "./_webhook.ts";
