import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
} from '@temporalio/client';
import type { Priority, SearchAttributePair } from '@temporalio/common';
import type { ScheduleOverlap } from '../dsl/schedule.js';
import type { RunStepsInput } from '../workflows/types.js';
import { rethrow } from './adapter.js';

/*
 * Temporal Schedules as Hookflow uses them (DESIGN §7): one Schedule per workflow whose action starts the
 * interpreter with the definition snapshot of the workflow's current version. This module only speaks Temporal's
 * protocol; what a Schedule should be is decided by src/api/services/schedule-service.ts.
 */

/**
 * Memo key, in the Schedule's action, of what the Schedule was last written from (the Schedule's own memo cannot be
 * updated). Scheduled runs carry it in their memo too, which does no harm.
 */
const FINGERPRINT_MEMO_KEY = 'hookflowSchedule';

/** Thrown inside an update callback to leave the Schedule as it is. */
class KeepCurrent extends Error {}
/** Every Hookflow Schedule id starts with this, so orphans can be found among other Schedules of the namespace. */
export const SCHEDULE_ID_PREFIX = 'hookflow-';

/** What a Schedule was written from: compared with the database to decide whether it is stale. */
export interface ScheduleFingerprint {
  workflowId: string;
  version: number;
  /** Digest of everything written (spec, policies, state, action). */
  digest: string;
}

/** A Schedule as Hookflow writes it. */
export interface DesiredSchedule {
  scheduleId: string;
  spec: { cron: string; timezone: string } | { everyMs: number };
  overlap: ScheduleOverlap;
  catchupWindowMs: number;
  paused: boolean;
  note: string;
  action: {
    /**
     * The interpreter type its runs start as (RUN_STEPS_WORKFLOW_TYPE). Part of what the fingerprint's digest covers,
     * so a Schedule written by a build that started another type is rewritten by the next reconcile.
     */
    workflowType: string;
    /** Temporal appends the scheduled time to it: `<workflowId>-2026-12-01T09:00:00Z` is each run's id. */
    workflowId: string;
    taskQueue: string;
    input: RunStepsInput;
    memo: Record<string, unknown>;
    searchAttributes: SearchAttributePair[];
    summary: string;
    priority: Priority;
  };
  fingerprint: ScheduleFingerprint;
}

export interface ScheduleState {
  paused: boolean;
  note: string | null;
  /** Up to 5, soonest first. */
  nextRunTimes: Date[];
  /** Run ids of the latest actions, newest last. */
  recentRunIds: string[];
  fingerprint: ScheduleFingerprint | null;
}

const overlapPolicies: Record<ScheduleOverlap, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
  allow_all: ScheduleOverlapPolicy.ALLOW_ALL,
};

/**
 * Memo key of the Schedule itself (written once, at creation): the task queue of the Hookflow deployment that owns
 * it, so a deployment never touches the Schedules of another one sharing the namespace.
 */
const OWNER_MEMO_KEY = 'hookflowTaskQueue';

/** A Schedule call waits at most this long: a write then falls back to the reconcile instead of hanging. */
const SCHEDULE_CALL_DEADLINE_MS = 5_000;

export function createTemporalSchedules(deps: { client: Pick<Client, 'schedule'>; taskQueue: string }) {
  const { schedule } = deps.client;
  const withDeadline = <R>(call: () => Promise<R>) =>
    schedule.withDeadline(Date.now() + SCHEDULE_CALL_DEADLINE_MS, call);

  function options(desired: DesiredSchedule): ScheduleOptions {
    return {
      scheduleId: desired.scheduleId,
      spec:
        'cron' in desired.spec
          ? { cronExpressions: [desired.spec.cron], timezone: desired.spec.timezone }
          : { intervals: [{ every: desired.spec.everyMs }] },
      action: {
        type: 'startWorkflow',
        workflowType: desired.action.workflowType,
        workflowId: desired.action.workflowId,
        taskQueue: desired.action.taskQueue,
        args: [desired.action.input],
        memo: { ...desired.action.memo, [FINGERPRINT_MEMO_KEY]: desired.fingerprint },
        typedSearchAttributes: desired.action.searchAttributes,
        staticSummary: desired.action.summary,
        // The SDK sends a Schedule action's priority (schedule-helpers.ts) but its option type omits the field.
        ...({ priority: desired.action.priority } as object),
      },
      policies: {
        overlap: overlapPolicies[desired.overlap],
        catchupWindow: desired.catchupWindowMs,
      },
      state: { paused: desired.paused, note: desired.note },
      memo: { [OWNER_MEMO_KEY]: deps.taskQueue },
    };
  }

  return {
    /** The Schedule's state, or undefined when there is none. */
    async describe(scheduleId: string): Promise<ScheduleState | undefined> {
      let description;
      try {
        description = await withDeadline(() => schedule.getHandle(scheduleId).describe());
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) return undefined;
        return rethrow(error);
      }
      const fingerprint = description.action.memo?.[FINGERPRINT_MEMO_KEY] as ScheduleFingerprint | undefined;
      return {
        paused: description.state.paused,
        note: description.state.note ?? null,
        nextRunTimes: description.info.nextActionTimes.slice(0, 5),
        recentRunIds: description.info.recentActions.map((result) => result.action.workflow.workflowId),
        fingerprint: fingerprint ?? null,
      };
    },

    /** Creates the Schedule; one that exists already (another API process was first) is left to `update`. */
    async create(desired: DesiredSchedule): Promise<'created' | 'exists'> {
      try {
        await withDeadline(() => schedule.create(options(desired)));
        return 'created';
      } catch (error) {
        if (error instanceof ScheduleAlreadyRunning) return 'exists';
        return rethrow(error);
      }
    },

    /**
     * Rewrites the Schedule unless `keep(current)` says what it holds is as new as `desired` (the check runs on the
     * state being replaced, under Temporal's conflict token, so two API processes cannot write an older version
     * over a newer one).
     */
    async update(
      desired: DesiredSchedule,
      keep: (current: ScheduleFingerprint | null) => boolean,
    ): Promise<'updated' | 'kept'> {
      const { spec, action, policies = {}, state = {} } = options(desired);
      try {
        await withDeadline(() =>
          schedule.getHandle(desired.scheduleId).update((previous) => {
            const current = previous.action.memo?.[FINGERPRINT_MEMO_KEY] as ScheduleFingerprint | undefined;
            if (keep(current ?? null)) throw new KeepCurrent();
            return { spec, action, policies, state };
          }),
        );
        return 'updated';
      } catch (error) {
        if (error instanceof KeepCurrent) return 'kept';
        return rethrow(error);
      }
    },

    async delete(scheduleId: string): Promise<void> {
      try {
        await withDeadline(() => schedule.getHandle(scheduleId).delete());
      } catch (error) {
        if (!(error instanceof ScheduleNotFoundError)) rethrow(error);
      }
    },

    /** Ids of every Schedule of this Hookflow deployment (its task queue) in the namespace. */
    async listIds(): Promise<string[]> {
      const ids: string[] = [];
      try {
        await withDeadline(async () => {
          for await (const summary of schedule.list()) {
            const owner = summary.memo?.[OWNER_MEMO_KEY];
            if (summary.scheduleId.startsWith(SCHEDULE_ID_PREFIX) && owner === deps.taskQueue) {
              ids.push(summary.scheduleId);
            }
          }
        });
      } catch (error) {
        return rethrow(error);
      }
      return ids;
    },

    /** Takes the actions the Schedule would have taken between `start` and `end`. */
    async backfill(scheduleId: string, start: Date, end: Date, overlap: ScheduleOverlap): Promise<void> {
      try {
        await withDeadline(() =>
          schedule.getHandle(scheduleId).backfill({ start, end, overlap: overlapPolicies[overlap] }),
        );
      } catch (error) {
        rethrow(error);
      }
    },
  };
}

export type TemporalSchedules = ReturnType<typeof createTemporalSchedules>;
