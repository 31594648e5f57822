import { patched } from '@temporalio/workflow';

/*
 * patched() ids: each guards one change to the commands the interpreter emits, so runs started by an older build
 * replay their recorded path and take the new one only from the point where they run live (DESIGN §8). Never
 * rename or reuse an id; remove one (with deprecatePatch first) only when no run that predates it can be open.
 */
export const PATCHES = {
  /**
   * Email activities heartbeat (worker death noticed in seconds), are bounded by a schedule-to-close timeout
   * inside the provider's 24 h idempotency window, and rendered emails are capped in size.
   */
  emailActivityV2: 'email-activity-v2',
  /**
   * Rendering refuses what a hostile webhook value could abuse (issue 11): a recipient placeholder renders exactly one
   * address (lists only from the definition or an array value), a value starting a URL attribute in html must be an
   * http(s) or mailto URL (else `#`), and header fields (email headers, http step header values) refuse every control
   * character and U+2028/U+2029, not only CR/LF.
   */
  renderHardening: 'render-hardening',
} as const;

export type PatchId = (typeof PATCHES)[keyof typeof PATCHES];

/** Whether a run takes the change `id` at this point: the interpreter's step executors ask it at each change. */
export type ChangeCheck = (id: PatchId) => boolean;

/**
 * runSteps, the workflow type of runs started before runStepsV2: history decides, through patched(). A new run
 * records a marker per change and the SDK upserts the TemporalChangeVersion search attribute with it: two more
 * history events and one more visibility write each, per run (bench/run-cost.ts measured the email step's two at
 * 8–16 % of the native server's runs per second).
 */
export const changesFromHistory: ChangeCheck = (id) => patched(id);

/**
 * The changes runStepsV2 starts with. A runStepsV2 run never ran without them, so it needs no marker for them; no
 * build before runStepsV2 knows the type, so none of its workers can run one (their workflow task fails until a
 * current worker takes it). Frozen: a later change is guarded by patched() in both types (it is not listed here).
 */
const PATCHES_BUILT_INTO_V2: ReadonlySet<PatchId> = new Set([
  PATCHES.emailActivityV2,
  PATCHES.renderHardening,
]);

/** runStepsV2: the built-in changes hold from the start; any later one is asked of history like runSteps does. */
export const changesBuiltIntoV2: ChangeCheck = (id) => PATCHES_BUILT_INTO_V2.has(id) || patched(id);
