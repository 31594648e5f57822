import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { durationToMs, UNIT_MS } from '../workflows/durations.js';
import { durationSchema, strictObject } from './fields.js';

/*
 * A workflow's clock trigger (DESIGN §7, "Schedules"): one Temporal Schedule per workflow, kept in step with this
 * part of the saved definition. Validated here, on save, so Temporal is never asked to create one it would refuse.
 */

export const SCHEDULE_OVERLAP_POLICIES = ['skip', 'buffer_one', 'allow_all'] as const;
export type ScheduleOverlap = (typeof SCHEDULE_OVERLAP_POLICIES)[number];

/** Shortest interval of an `every` schedule. */
const MIN_EVERY_MS = UNIT_MS.s;
/** Temporal's own floor for a catch-up window. */
const MIN_CATCHUP_MS = 10 * UNIT_MS.s;
/** Largest `payload`, in bytes of JSON: it is part of every scheduled run's input. */
export const MAX_SCHEDULE_PAYLOAD_BYTES = 64 * 1024;

function checkCron(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `cron must have 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}: "0 9 * * 1-5" is 09:00 on weekdays`;
  }
  try {
    CronExpressionParser.parse(expression);
    return undefined;
  } catch (error) {
    return `invalid cron expression ${JSON.stringify(expression)}: ${(error as Error).message}`;
  }
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * `{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}` or `{"every": "15m"}`: exactly one of the two.
 * - `timezone`: IANA name for `cron` (default UTC);
 * - `overlap`: what a run that comes due while the previous one still runs does: `skip` (default), `buffer_one`
 *   (runs after it, at most one waiting) or `allow_all`;
 * - `catchupWindow`: after an outage, runs that came due at most this long ago still start (default 1m, at least
 *   10s); older ones are skipped, so an outage never ends in a burst of stale emails;
 * - `payload`: the `trigger.body` of scheduled runs.
 */
const scheduleShape = {
  cron: z.string().max(200, 'cron must be at most 200 characters').optional(),
  every: durationSchema.optional(),
  timezone: z
    .string()
    .refine(isTimeZone, 'timezone must be an IANA time zone name such as "Europe/Paris" or "UTC"')
    .optional(),
  overlap: z
    .enum(SCHEDULE_OVERLAP_POLICIES, {
      error: `overlap must be one of: ${SCHEDULE_OVERLAP_POLICIES.join(', ')}`,
    })
    .optional(),
  catchupWindow: durationSchema.optional(),
  payload: z.unknown().optional(),
};

export const scheduleSchema = strictObject(scheduleShape).superRefine((schedule, ctx) => {
  if (typeof schedule !== 'object' || schedule === null) return;
  const { cron, every, timezone, catchupWindow, payload } = schedule;
  if ((cron === undefined) === (every === undefined)) {
    ctx.addIssue({
      code: 'custom',
      message: 'give exactly one of "cron" (e.g. "0 9 * * 1-5") or "every" (e.g. "15m")',
    });
  }
  if (cron !== undefined) {
    const problem = checkCron(cron);
    if (problem) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem });
  }
  if (every !== undefined) {
    const ms = durationToMs(every);
    if (ms !== undefined && ms < MIN_EVERY_MS) {
      ctx.addIssue({ code: 'custom', path: ['every'], message: 'every must be at least 1s' });
    }
  }
  if (timezone !== undefined && every !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['timezone'], message: 'timezone applies to "cron" only' });
  }
  if (catchupWindow !== undefined) {
    const ms = durationToMs(catchupWindow);
    if (ms !== undefined && ms < MIN_CATCHUP_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['catchupWindow'],
        message: 'catchupWindow must be at least 10s',
      });
    }
  }
  if (payload !== undefined && Buffer.byteLength(JSON.stringify(payload)) > MAX_SCHEDULE_PAYLOAD_BYTES) {
    ctx.addIssue({
      code: 'custom',
      path: ['payload'],
      message: `payload must be at most ${MAX_SCHEDULE_PAYLOAD_BYTES} bytes of JSON`,
    });
  }
});
/** See scheduleSchema. */
export type Schedule = z.output<typeof scheduleSchema>;

/** A schedule as the workflow resource shows it: the definition's, plus what Temporal says of it. */
export const scheduleViewSchema = z.object({
  // The saved values, typed loosely: a schedule saved under older rules is still shown, never a 500.
  cron: z.string().optional(),
  every: z.union([z.string(), z.number()]).optional(),
  timezone: z.string().optional(),
  overlap: z.string().optional(),
  catchupWindow: z.union([z.string(), z.number()]).optional(),
  payload: z.unknown().optional(),
  paused: z.boolean(),
  /** Up to 5 upcoming runs, from Temporal; empty while Temporal cannot be reached. */
  nextRunTimes: z.array(z.string()),
  /** False until the Temporal Schedule reflects this version (repaired automatically). */
  inSync: z.boolean(),
});
export type ScheduleView = z.output<typeof scheduleViewSchema>;
