import { createHash } from 'node:crypto';
import type { Config } from '../../config.js';
import type { WorkflowRecord, WorkflowRepo } from '../../db/repos/workflow-repo.js';
import type { Schedule, ScheduleOverlap, ScheduleView } from '../../dsl/schedule.js';
import { AppError } from '../../errors.js';
import {
  SCHEDULE_ID_PREFIX,
  type DesiredSchedule,
  type ScheduleFingerprint,
  type ScheduleState,
  type TemporalSchedules,
} from '../../temporal/schedules.js';
import { parseDuration } from '../../workflows/durations.js';
import { RUN_STEPS_WORKFLOW_TYPE } from '../../workflows/names.js';
import type { RunStepsInput } from '../../workflows/types.js';
import { scheduledRunPrefix } from './run-ids.js';
import { workflowNotFound } from './workflow-service.js';

/*
 * Keeps each workflow's Temporal Schedule in step with PostgreSQL (DESIGN §7). PostgreSQL owns the definition and
 * Temporal owns the Schedule; nothing writes both atomically, so every write is followed by `sync`, and
 * `reconcile` (on API start and periodically) repairs whatever a crash or an outage left between the two: it
 * creates missing Schedules, rewrites stale ones and deletes those of deleted workflows. Both are idempotent and
 * safe with several API processes at once: a Schedule is only ever rewritten from a version at least as new as
 * the one it holds.
 */

const DEFAULT_CATCHUP_WINDOW = '1m';
const DISABLED_NOTE = 'paused by Hookflow: the workflow is disabled (enabled: false)';
const ENABLED_NOTE = 'managed by Hookflow: change it through the Hookflow API, not here';

export const scheduleIdOf = (workflowId: string) => `${SCHEDULE_ID_PREFIX}${workflowId}`;

/** How a run's start carries Hookflow's memo, search attributes and summary (shared with webhook starts). */
export interface RunStartDetails {
  memo(input: RunStepsInput): Record<string, unknown>;
  searchAttributes(input: RunStepsInput): DesiredSchedule['action']['searchAttributes'];
  summary(input: RunStepsInput): string;
  priority(input: RunStepsInput): DesiredSchedule['action']['priority'];
}

export function createScheduleService(deps: {
  workflows: Pick<WorkflowRepo, 'findForSchedule' | 'listScheduledIds' | 'findOwned'>;
  schedules: Pick<TemporalSchedules, 'describe' | 'create' | 'update' | 'delete' | 'listIds' | 'backfill'>;
  runStarts: RunStartDetails;
  config: Pick<Config, 'temporal'>;
  log?: (message: string, error?: unknown) => void;
}) {
  const { schedules } = deps;
  const log = deps.log ?? (() => undefined);

  /** The run input every scheduled run of `record`'s current version starts with. */
  function scheduledInput(record: WorkflowRecord, schedule: Schedule): RunStepsInput {
    return {
      // Empty: each scheduled run's id is its Temporal workflow id, which holds the scheduled time.
      run: { id: '', ownerId: record.ownerId },
      definition: { workflowId: record.id, version: record.version, name: record.name, steps: record.steps },
      trigger: { type: 'schedule', receivedAt: '', body: schedule.payload ?? {}, query: {}, headers: {} },
    };
  }

  function desiredOf(record: WorkflowRecord, schedule: Schedule): DesiredSchedule {
    const input = scheduledInput(record, schedule);
    const written = {
      spec:
        schedule.cron !== undefined
          ? { cron: schedule.cron, timezone: schedule.timezone ?? 'UTC' }
          : { everyMs: parseDuration(schedule.every ?? '1m') },
      overlap: schedule.overlap ?? 'skip',
      catchupWindowMs: parseDuration(schedule.catchupWindow ?? DEFAULT_CATCHUP_WINDOW),
      paused: !record.enabled,
      note: record.enabled ? ENABLED_NOTE : DISABLED_NOTE,
      action: {
        workflowType: RUN_STEPS_WORKFLOW_TYPE,
        workflowId: scheduledRunPrefix(record.id),
        taskQueue: deps.config.temporal.taskQueue,
        input,
        memo: deps.runStarts.memo(input),
        searchAttributes: deps.runStarts.searchAttributes(input),
        summary: deps.runStarts.summary(input),
        priority: deps.runStarts.priority(input),
      },
    } satisfies Omit<DesiredSchedule, 'scheduleId' | 'fingerprint'>;
    const digest = createHash('sha256').update(JSON.stringify(written)).digest('base64url');
    return {
      ...written,
      scheduleId: scheduleIdOf(record.id),
      fingerprint: { workflowId: record.id, version: record.version, digest },
    };
  }

  /** A Schedule written from a newer version stays as it is (another API process read the database later). */
  const isNewer = (desired: ScheduleFingerprint) => (current: ScheduleFingerprint | null) =>
    current !== null && current.workflowId === desired.workflowId && current.version > desired.version;
  /** ...and so does one written from this very version and settings. */
  const isCurrent = (desired: ScheduleFingerprint) => (current: ScheduleFingerprint | null) =>
    isNewer(desired)(current) || (current !== null && current.digest === desired.digest);

  /** Makes the workflow's Schedule match the database: created, rewritten, deleted or left alone. */
  async function sync(workflowId: string): Promise<'created' | 'updated' | 'deleted' | 'unchanged'> {
    const record = await deps.workflows.findForSchedule(workflowId);
    const scheduleId = scheduleIdOf(workflowId);
    if (!record || record.deleted || !record.schedule) {
      const existing = await schedules.describe(scheduleId);
      if (!existing) return 'unchanged';
      // A version that removed the schedule must not delete one a newer version wrote (deletion is final).
      const newer = record && !record.deleted && (existing.fingerprint?.version ?? 0) > record.version;
      if (newer) return 'unchanged';
      await schedules.delete(scheduleId);
      return 'deleted';
    }
    const desired = desiredOf(record, record.schedule);
    if ((await schedules.create(desired)) === 'created') return 'created';
    // Paused or unpaused by hand in the Temporal UI: the pause follows `enabled`, so it is written again.
    const state = await schedules.describe(desired.scheduleId);
    const drifted = state !== undefined && state.paused !== desired.paused;
    const keep = drifted ? isNewer(desired.fingerprint) : isCurrent(desired.fingerprint);
    return (await schedules.update(desired, keep)) === 'updated' ? 'updated' : 'unchanged';
  }

  return {
    sync,

    /**
     * `sync` after a write: the write itself is committed and stays so. If Temporal cannot be reached now, the
     * periodic reconcile repairs the Schedule later, and the resource says `inSync: false` until then.
     */
    async syncAfterWrite(workflowId: string): Promise<void> {
      try {
        await sync(workflowId);
      } catch (error) {
        log(`schedule of workflow ${workflowId} not synced yet (repaired by the next reconcile)`, error);
      }
    },

    /** Repairs every Schedule: those the database wants, and orphans Temporal still has. Never throws. */
    async reconcile(): Promise<Record<'checked' | 'created' | 'updated' | 'deleted' | 'failed', number>> {
      const counts = { checked: 0, created: 0, updated: 0, deleted: 0, failed: 0 };
      let ids: Set<string>;
      try {
        const wanted = await deps.workflows.listScheduledIds();
        const inTemporal = (await schedules.listIds()).map((id) => id.slice(SCHEDULE_ID_PREFIX.length));
        ids = new Set([...wanted, ...inTemporal]);
      } catch (error) {
        log('schedule reconcile could not list schedules; will try again', error);
        counts.failed++;
        return counts;
      }
      for (const id of ids) {
        counts.checked++;
        try {
          const outcome = await sync(id);
          if (outcome !== 'unchanged') counts[outcome]++;
        } catch (error) {
          counts.failed++;
          log(`schedule of workflow ${id} could not be reconciled; will try again`, error);
        }
      }
      return counts;
    },

    /** The resource view of a workflow's schedule, with Temporal's next run times when it can be reached. */
    async view(record: WorkflowRecord): Promise<ScheduleView | null> {
      if (!record.schedule) return null;
      let state: ScheduleState | undefined;
      try {
        state = await schedules.describe(scheduleIdOf(record.id));
      } catch (error) {
        log(`schedule of workflow ${record.id} could not be described`, error);
      }
      const desired = desiredOf(record, record.schedule);
      return {
        ...record.schedule,
        paused: state?.paused ?? !record.enabled,
        nextRunTimes: (state?.nextRunTimes ?? []).map((time) => time.toISOString()),
        inSync: state?.fingerprint?.digest === desired.fingerprint.digest && state.paused === desired.paused,
      };
    },

    /** Takes the actions the schedule would have taken between `start` and `end` (they may send email again). */
    async backfill(
      ownerId: string,
      workflowId: string,
      window: { start: Date; end: Date; overlap?: ScheduleOverlap },
    ): Promise<void> {
      const record = await deps.workflows.findOwned(ownerId, workflowId);
      if (!record) throw workflowNotFound(workflowId);
      if (!record.schedule) throw noSchedule(workflowId);
      if (window.end <= window.start) {
        throw new AppError('INVALID_WINDOW', 400, '"end" must be after "start".');
      }
      if (window.end.getTime() > Date.now()) {
        throw new AppError(
          'INVALID_WINDOW',
          400,
          '"end" must not be in the future: backfill is for past runs.',
        );
      }
      await sync(workflowId);
      await schedules.backfill(scheduleIdOf(workflowId), window.start, window.end, window.overlap ?? 'skip');
    },
  };
}

export const noSchedule = (workflowId: string) =>
  new AppError(
    'NO_SCHEDULE',
    409,
    `Workflow ${workflowId} has no schedule: set "schedule" with PUT /v1/workflows/${workflowId} first.`,
  );

export type ScheduleService = ReturnType<typeof createScheduleService>;
