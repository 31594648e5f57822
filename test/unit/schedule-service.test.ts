import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { RUN_ID_PATTERN, scheduledRunPrefix } from '../../src/api/services/run-ids.js';
import { createScheduleService } from '../../src/api/services/schedule-service.js';
import type { WorkflowRecord, WorkflowRepo } from '../../src/db/repos/workflow-repo.js';
import { scheduleSchema } from '../../src/dsl/schedule.js';
import { stepsSchema } from '../../src/dsl/schema.js';
import { AppError, UnavailableError } from '../../src/errors.js';
import { runStartDetails } from '../../src/temporal/adapter.js';
import {
  SCHEDULE_ID_PREFIX,
  type DesiredSchedule,
  type TemporalSchedules,
} from '../../src/temporal/schedules.js';
import { RUN_STEPS_WORKFLOW_TYPE } from '../../src/workflows/names.js';
import { testConfig } from '../helpers/config.js';

/** What the schedule service needs of the workflow repository and of the Temporal Schedules adapter. */
type Repo = Pick<WorkflowRepo, 'findForSchedule' | 'listScheduledIds' | 'findOwned'>;
type Port = Pick<TemporalSchedules, 'describe' | 'create' | 'update' | 'delete' | 'listIds' | 'backfill'>;
type StoredWorkflow = WorkflowRecord & { deleted: boolean };

/** The repository's contract in memory: deleted workflows are still found for their Schedule, never as owned. */
function fakeRepo() {
  const rows = new Map<string, StoredWorkflow>();
  const repo = {
    findForSchedule: vi.fn<Repo['findForSchedule']>((id) => {
      const row = rows.get(id);
      return Promise.resolve(row && structuredClone(row));
    }),
    listScheduledIds: vi.fn<Repo['listScheduledIds']>(() =>
      Promise.resolve(
        [...rows.values()]
          .filter((row) => !row.deleted && row.schedule !== null)
          .map((row) => row.id)
          .sort(),
      ),
    ),
    findOwned: vi.fn<Repo['findOwned']>((ownerId, id) => {
      const row = rows.get(id);
      if (!row || row.deleted || row.ownerId !== ownerId) return Promise.resolve(undefined);
      const { deleted: _deleted, ...record } = structuredClone(row);
      return Promise.resolve(record);
    }),
  } satisfies Repo;
  return { repo, rows };
}

/**
 * Temporal's Schedules as the adapter presents them, in memory: each id holds the DesiredSchedule last written.
 * `update` asks `keep(current)` about the fingerprint the Schedule holds and leaves it alone when told to, as the real
 * one does under Temporal's conflict token. `writes` lists every change actually made. `down` makes every call fail
 * with UnavailableError (what the adapter throws when Temporal cannot be reached), `broken` only the calls about the
 * Schedule ids it holds.
 */
function fakeSchedules() {
  const stored = new Map<string, { desired: DesiredSchedule; paused: boolean; nextRunTimes: Date[] }>();
  const writes: string[] = [];
  const broken = new Set<string>();
  const status = { down: false };
  /** Answers like the adapter: a rejected promise when Temporal is (made) unreachable. */
  const answer = <T>(scheduleId: string | undefined, result: () => T) =>
    new Promise<T>((resolve) => {
      if (status.down || (scheduleId !== undefined && broken.has(scheduleId))) {
        throw new UnavailableError('Temporal cannot be reached right now. Retry shortly.');
      }
      resolve(result());
    });
  const schedules = {
    describe: vi.fn<Port['describe']>((scheduleId) =>
      answer(scheduleId, () => {
        const schedule = stored.get(scheduleId);
        return (
          schedule && {
            paused: schedule.paused,
            note: schedule.desired.note,
            nextRunTimes: schedule.nextRunTimes.slice(0, 5),
            recentRunIds: [],
            fingerprint: schedule.desired.fingerprint,
          }
        );
      }),
    ),
    create: vi.fn<Port['create']>((desired) =>
      answer(desired.scheduleId, () => {
        if (stored.has(desired.scheduleId)) return 'exists' as const;
        stored.set(desired.scheduleId, { desired, paused: desired.paused, nextRunTimes: [] });
        writes.push(`create ${desired.scheduleId}`);
        return 'created' as const;
      }),
    ),
    update: vi.fn<Port['update']>((desired, keep) =>
      answer(desired.scheduleId, () => {
        const current = stored.get(desired.scheduleId);
        if (!current) throw new Error(`schedule not found: ${desired.scheduleId}`);
        if (keep(current.desired.fingerprint)) return 'kept' as const;
        stored.set(desired.scheduleId, { ...current, desired, paused: desired.paused });
        writes.push(`update ${desired.scheduleId}`);
        return 'updated' as const;
      }),
    ),
    delete: vi.fn<Port['delete']>((scheduleId) =>
      answer(scheduleId, () => {
        if (stored.delete(scheduleId)) writes.push(`delete ${scheduleId}`);
      }),
    ),
    listIds: vi.fn<Port['listIds']>(() =>
      answer(undefined, () => [...stored.keys()].filter((id) => id.startsWith(SCHEDULE_ID_PREFIX))),
    ),
    backfill: vi.fn<Port['backfill']>((scheduleId) =>
      answer(scheduleId, () => {
        if (!stored.has(scheduleId)) throw new Error(`schedule not found: ${scheduleId}`);
      }),
    ),
  } satisfies Port;
  return { schedules, stored, writes, broken, status };
}

const steps = stepsSchema.parse([
  { id: 'digest', type: 'email', params: { to: 'team@example.com', subject: 'Daily digest', text: 'Hi' } },
]);
const newerSteps = stepsSchema.parse([
  { id: 'digest', type: 'email', params: { to: 'team@example.com', subject: 'Digest v2', text: 'Hi' } },
]);

function setup() {
  const { repo, rows } = fakeRepo();
  const fake = fakeSchedules();
  const log = vi.fn<(message: string, error?: unknown) => void>();
  const config = testConfig();
  const service = createScheduleService({
    workflows: repo,
    schedules: fake.schedules,
    runStarts: runStartDetails,
    config,
    log,
  });

  /** Saves version 1 of a workflow; `schedule` is validated as the API validates it. */
  function workflow(schedule: unknown, patch: Partial<StoredWorkflow> = {}): StoredWorkflow {
    const now = new Date();
    const record: StoredWorkflow = {
      id: randomUUID(),
      ownerId: randomUUID(),
      name: 'Daily digest',
      description: '',
      enabled: true,
      version: 1,
      steps,
      schedule: schedule === null ? null : scheduleSchema.parse(schedule),
      webhookTokenCiphertext: Buffer.alloc(0),
      webhookSigning: 'none',
      webhookSecretCiphertext: null,
      previousWebhookExpiresAt: null,
      createdAt: now,
      updatedAt: now,
      deleted: false,
      ...patch,
    };
    rows.set(record.id, record);
    return structuredClone(record);
  }
  /** Saves a new version, as PUT does. */
  function edit(id: string, patch: Partial<Pick<StoredWorkflow, 'enabled' | 'steps' | 'name' | 'schedule'>>) {
    const row = rows.get(id)!;
    const next = { ...row, ...patch, version: row.version + 1, updatedAt: new Date() };
    rows.set(id, next);
    return structuredClone(next);
  }
  /** Soft-deletes, as DELETE does. */
  function remove(id: string) {
    rows.set(id, { ...rows.get(id)!, deleted: true, enabled: false });
  }
  const scheduleOf = (id: string) => fake.stored.get(`hookflow-${id}`);

  return { ...fake, repo, rows, log, config, service, workflow, edit, remove, scheduleOf };
}

describe('schedule service: sync', () => {
  it("creates the workflow's Schedule hookflow-<id> with its spec, defaults and a scheduled run's start", async () => {
    const { service, workflow, scheduleOf, writes, config } = setup();
    const record = workflow({ cron: '0 9 * * 1-5', timezone: 'Europe/Paris', payload: { list: 'weekly' } });

    expect(await service.sync(record.id)).toBe('created');

    expect(writes).toEqual([`create hookflow-${record.id}`]);
    const desired = scheduleOf(record.id)!.desired;
    expect(desired).toMatchObject({
      scheduleId: `hookflow-${record.id}`,
      spec: { cron: '0 9 * * 1-5', timezone: 'Europe/Paris' },
      overlap: 'skip',
      catchupWindowMs: 60_000,
      paused: false,
      fingerprint: { workflowId: record.id, version: 1 },
    });
    expect(desired.note).not.toMatch(/disabled/);
    const input = {
      run: { id: '', ownerId: record.ownerId },
      definition: { workflowId: record.id, version: 1, name: 'Daily digest', steps },
      trigger: { type: 'schedule', receivedAt: '', body: { list: 'weekly' }, query: {}, headers: {} },
    } as const;
    expect(desired.action).toEqual({
      workflowType: RUN_STEPS_WORKFLOW_TYPE,
      workflowId: scheduledRunPrefix(record.id),
      taskQueue: config.temporal.taskQueue,
      input,
      memo: runStartDetails.memo(input),
      searchAttributes: runStartDetails.searchAttributes(input),
      summary: runStartDetails.summary(input),
      // Scheduled runs take their turn with the account's other runs (task-queue fairness by owner).
      priority: { fairnessKey: record.ownerId },
    });
    // What the run list and ownership checks read off every scheduled run.
    expect(desired.action.memo).toMatchObject({
      hookflow: { workflowId: record.id, workflowVersion: 1, trigger: { type: 'schedule' } },
    });
    expect(desired.action.searchAttributes.map((pair) => pair.value)).toEqual([record.id, record.ownerId]);
    // Temporal appends the scheduled time to the prefix: each scheduled run has a valid Hookflow run id.
    expect(`${desired.action.workflowId}-2026-12-01T09:00:00Z`).toMatch(RUN_ID_PATTERN);
  });

  it('defaults a cron timezone to UTC, writes `every` in ms and passes overlap and catch-up window through', async () => {
    const { service, workflow, scheduleOf } = setup();
    const cron = workflow({ cron: '*/5 * * * *' });
    const every = workflow({ every: '15m', overlap: 'buffer_one', catchupWindow: '10m' });

    await service.sync(cron.id);
    await service.sync(every.id);

    expect(scheduleOf(cron.id)!.desired.spec).toEqual({ cron: '*/5 * * * *', timezone: 'UTC' });
    expect(scheduleOf(every.id)!.desired).toMatchObject({
      spec: { everyMs: 900_000 },
      overlap: 'buffer_one',
      catchupWindowMs: 600_000,
    });
    // No payload: scheduled runs see an empty trigger.body.
    expect(scheduleOf(every.id)!.desired.action.input.trigger.body).toEqual({});
  });

  it('pauses the Schedule of a disabled workflow with a note saying why, and resumes it once enabled', async () => {
    const { service, workflow, edit, scheduleOf } = setup();
    const record = workflow({ every: '1h' }, { enabled: false });

    expect(await service.sync(record.id)).toBe('created');
    expect(scheduleOf(record.id)!.paused).toBe(true);
    expect(scheduleOf(record.id)!.desired.note).toMatch(/disabled/);

    edit(record.id, { enabled: true });
    expect(await service.sync(record.id)).toBe('updated');
    expect(scheduleOf(record.id)!.paused).toBe(false);
    expect(scheduleOf(record.id)!.desired.note).not.toMatch(/disabled/);
  });

  it('writes nothing when nothing changed, and rewrites the Schedule for a new version', async () => {
    const { service, workflow, edit, scheduleOf, writes } = setup();
    const record = workflow({ every: '1h' });
    await service.sync(record.id);

    expect(await service.sync(record.id)).toBe('unchanged');
    expect(writes).toHaveLength(1);

    edit(record.id, { name: 'Daily digest (new)', steps: newerSteps });
    expect(await service.sync(record.id)).toBe('updated');
    expect(writes).toEqual([`create hookflow-${record.id}`, `update hookflow-${record.id}`]);
    // The next scheduled run starts the new version.
    expect(scheduleOf(record.id)!.desired.action.input.definition).toEqual({
      workflowId: record.id,
      version: 2,
      name: 'Daily digest (new)',
      steps: newerSteps,
    });
  });

  it('rewrites a Schedule an older build wrote for the same version, so its next runs start as the current type', async () => {
    const { service, workflow, scheduleOf, stored, writes } = setup();
    const record = workflow({ every: '1h' });
    await service.sync(record.id);
    // What a build before runStepsV2 wrote: the same version and settings, starting runSteps, with the digest that
    // build computed (over the same fields, which had no workflowType then).
    const current = scheduleOf(record.id)!;
    const { scheduleId: _id, fingerprint, ...written } = current.desired;
    const { workflowType: _type, ...olderAction } = written.action;
    const olderDigest = createHash('sha256')
      .update(JSON.stringify({ ...written, action: olderAction }))
      .digest('base64url');
    stored.set(`hookflow-${record.id}`, {
      ...current,
      desired: {
        ...current.desired,
        action: { ...written.action, workflowType: 'runSteps' },
        fingerprint: { ...fingerprint, digest: olderDigest },
      },
    });

    expect(await service.sync(record.id)).toBe('updated');
    expect(writes).toEqual([`create hookflow-${record.id}`, `update hookflow-${record.id}`]);
    expect(scheduleOf(record.id)!.desired.action.workflowType).toBe(RUN_STEPS_WORKFLOW_TYPE);
    expect(await service.sync(record.id)).toBe('unchanged');
  });

  it('never writes an older version over a Schedule another API process already wrote from a newer one', async () => {
    const { service, workflow, edit, repo, scheduleOf, writes } = setup();
    const v1 = workflow({ every: '1h' });
    await service.sync(v1.id);
    edit(v1.id, { steps: newerSteps });
    expect(await service.sync(v1.id)).toBe('updated');

    // A slower process read version 1 before version 2 was saved, and syncs only now.
    repo.findForSchedule.mockResolvedValueOnce(v1);
    expect(await service.sync(v1.id)).toBe('unchanged');

    expect(scheduleOf(v1.id)!.desired.fingerprint.version).toBe(2);
    expect(scheduleOf(v1.id)!.desired.action.input.definition.steps).toEqual(newerSteps);
    expect(writes).toHaveLength(2);
  });

  it('never deletes a Schedule that a newer version wrote, on a stale read of a version without one', async () => {
    const { service, workflow, edit, repo, scheduleOf } = setup();
    const v1 = workflow({ every: '1h' });
    await service.sync(v1.id);
    edit(v1.id, { schedule: null });
    const withoutSchedule = await repo.findForSchedule(v1.id);
    edit(v1.id, { schedule: { every: '2h' } });
    expect(await service.sync(v1.id)).toBe('updated');

    // A slower process read version 2 (no schedule) before version 3 was saved, and syncs only now.
    repo.findForSchedule.mockResolvedValueOnce(withoutSchedule);
    expect(await service.sync(v1.id)).toBe('unchanged');
    expect(scheduleOf(v1.id)?.desired.fingerprint.version).toBe(3);
  });

  it('deletes the Schedule of a deleted workflow and of one whose schedule was removed; an unknown id changes nothing', async () => {
    const { service, workflow, edit, remove, scheduleOf, writes } = setup();
    const deleted = workflow({ every: '1h' });
    const unscheduled = workflow({ cron: '0 9 * * *' });
    await service.sync(deleted.id);
    await service.sync(unscheduled.id);

    remove(deleted.id);
    edit(unscheduled.id, { schedule: null });
    expect(await service.sync(deleted.id)).toBe('deleted');
    expect(await service.sync(unscheduled.id)).toBe('deleted');
    expect(scheduleOf(deleted.id)).toBeUndefined();
    expect(scheduleOf(unscheduled.id)).toBeUndefined();

    // Gone already, never had one, never existed: nothing to do.
    writes.length = 0;
    expect(await service.sync(deleted.id)).toBe('unchanged');
    expect(await service.sync(workflow(null).id)).toBe('unchanged');
    expect(await service.sync(randomUUID())).toBe('unchanged');
    expect(writes).toEqual([]);
  });
});

describe('schedule service: reconcile', () => {
  it('creates missing Schedules, rewrites stale ones, deletes orphans, and a second run changes nothing', async () => {
    const { service, workflow, edit, remove, rows, scheduleOf, writes } = setup();
    const missing = workflow({ every: '1h' }); // saved while Temporal was down
    const stale = workflow({ every: '1h' });
    const inSync = workflow({ every: '1h' });
    const deleted = workflow({ every: '1h' });
    const unknown = workflow({ every: '1h' });
    const unscheduled = workflow({ every: '1h' });
    for (const record of [stale, inSync, deleted, unknown, unscheduled]) await service.sync(record.id);
    edit(stale.id, { steps: newerSteps });
    remove(deleted.id);
    rows.delete(unknown.id); // a Schedule left by a workflow this database never had (or no longer has)
    edit(unscheduled.id, { schedule: null });
    writes.length = 0;

    expect(await service.reconcile()).toEqual({ checked: 6, created: 1, updated: 1, deleted: 3, failed: 0 });

    expect(scheduleOf(missing.id)!.desired.fingerprint.version).toBe(1);
    expect(scheduleOf(stale.id)!.desired.fingerprint.version).toBe(2);
    expect(scheduleOf(inSync.id)).toBeDefined();
    for (const gone of [deleted, unknown, unscheduled]) expect(scheduleOf(gone.id)).toBeUndefined();
    expect(writes).toHaveLength(5);

    writes.length = 0;
    expect(await service.reconcile()).toEqual({ checked: 3, created: 0, updated: 0, deleted: 0, failed: 0 });
    expect(writes).toEqual([]);
  });

  it('goes on past a workflow whose Schedule cannot be written, counts it as failed and logs it', async () => {
    const { service, workflow, broken, log, scheduleOf } = setup();
    const [first, failing, last] = [
      workflow({ every: '1h' }),
      workflow({ every: '1h' }),
      workflow({ every: '1h' }),
    ];
    broken.add(`hookflow-${failing.id}`);

    expect(await service.reconcile()).toEqual({ checked: 3, created: 2, updated: 0, deleted: 0, failed: 1 });

    expect(scheduleOf(first.id)).toBeDefined();
    expect(scheduleOf(last.id)).toBeDefined();
    expect(scheduleOf(failing.id)).toBeUndefined();
    expect(log).toHaveBeenCalledWith(expect.stringContaining(failing.id), expect.any(UnavailableError));

    broken.clear();
    expect(await service.reconcile()).toMatchObject({ checked: 3, created: 1, failed: 0 });
  });

  it('answers failed: 1 without throwing when Schedules or workflows cannot be listed', async () => {
    const { service, workflow, status, repo, log, writes } = setup();
    workflow({ every: '1h' });
    const nothingDone = { checked: 0, created: 0, updated: 0, deleted: 0, failed: 1 };

    status.down = true;
    expect(await service.reconcile()).toEqual(nothingDone);
    status.down = false;
    repo.listScheduledIds.mockRejectedValueOnce(new Error('connection terminated'));
    expect(await service.reconcile()).toEqual(nothingDone);

    expect(writes).toEqual([]);
    expect(log).toHaveBeenCalledTimes(2);
  });
});

describe('schedule service: syncAfterWrite', () => {
  it('never throws when Temporal is unavailable: it logs, and the next reconcile repairs the Schedule', async () => {
    const { service, workflow, status, log, scheduleOf } = setup();
    const record = workflow({ every: '1h' });
    status.down = true;

    await expect(service.syncAfterWrite(record.id)).resolves.toBeUndefined();

    expect(scheduleOf(record.id)).toBeUndefined();
    expect(log).toHaveBeenCalledOnce();
    expect(log).toHaveBeenCalledWith(expect.stringContaining(record.id), expect.any(UnavailableError));
    status.down = false;
    expect(await service.reconcile()).toMatchObject({ created: 1, failed: 0 });
  });

  it('syncs when Temporal is reachable', async () => {
    const { service, workflow, log, scheduleOf } = setup();
    const record = workflow({ every: '1h' });

    await service.syncAfterWrite(record.id);

    expect(scheduleOf(record.id)).toBeDefined();
    expect(log).not.toHaveBeenCalled();
  });
});

describe('schedule service: view', () => {
  it('is null for a workflow without a schedule', async () => {
    const { service, workflow, schedules } = setup();
    expect(await service.view(workflow(null))).toBeNull();
    expect(schedules.describe).not.toHaveBeenCalled();
  });

  it("shows the schedule with Temporal's next run times and pause state, in sync once the Schedule holds this version", async () => {
    const { service, workflow, scheduleOf } = setup();
    const record = workflow({ cron: '0 9 * * 1-5', timezone: 'Europe/Paris' });
    await service.sync(record.id);
    const nextRunTimes = [1, 2, 3].map((day) => new Date(Date.UTC(2030, 0, day, 8)));
    scheduleOf(record.id)!.nextRunTimes = nextRunTimes;

    expect(await service.view(record)).toEqual({
      cron: '0 9 * * 1-5',
      timezone: 'Europe/Paris',
      paused: false,
      nextRunTimes: ['2030-01-01T08:00:00.000Z', '2030-01-02T08:00:00.000Z', '2030-01-03T08:00:00.000Z'],
      inSync: true,
    });

    // Paused by hand in the Temporal UI: the resource says so, and that it differs from the definition...
    scheduleOf(record.id)!.paused = true;
    expect(await service.view(record)).toMatchObject({ paused: true, inSync: false });
    // ...until the next sync (or reconcile) writes the workflow's own state again.
    expect(await service.sync(record.id)).toBe('updated');
    expect(await service.view(record)).toMatchObject({ paused: false, inSync: true });
  });

  it('says inSync: false until the Schedule holds exactly the version shown', async () => {
    const { service, workflow, edit, repo } = setup();
    const v1 = workflow({ every: '1h' });
    expect(await service.view(v1)).toMatchObject({ inSync: false, nextRunTimes: [] }); // not created yet

    await service.sync(v1.id);
    expect(await service.view(v1)).toMatchObject({ inSync: true });

    const v2 = edit(v1.id, { steps: newerSteps });
    expect(await service.view(v2)).toMatchObject({ inSync: false }); // saved, not synced yet
    expect(await service.view(v1)).toMatchObject({ inSync: true });

    await service.sync(v1.id);
    const { deleted: _deleted, ...current } = (await repo.findForSchedule(v1.id))!;
    expect(await service.view(current)).toMatchObject({ inSync: true });
    // A reader still holding version 1 sees that the Schedule is not its version.
    expect(await service.view(v1)).toMatchObject({ inSync: false });
  });

  it('shows inSync: false and no next run times when Temporal is unavailable', async () => {
    const { service, workflow, status, log } = setup();
    const record = workflow({ every: '1h' }, { enabled: false });
    await service.sync(record.id);
    status.down = true;

    expect(await service.view(record)).toEqual({
      every: '1h',
      paused: true,
      nextRunTimes: [],
      inSync: false,
    });
    expect(log).toHaveBeenCalledWith(expect.stringContaining(record.id), expect.any(UnavailableError));
  });
});

describe('schedule service: backfill', () => {
  const hourAgo = () => new Date(Date.now() - 3_600_000);
  const minuteAgo = () => new Date(Date.now() - 60_000);

  it("answers another owner's workflow and an unknown one with 404 WORKFLOW_NOT_FOUND", async () => {
    const { service, workflow, schedules } = setup();
    const record = workflow({ every: '1h' });
    const window = { start: hourAgo(), end: minuteAgo() };

    await expect(service.backfill(randomUUID(), record.id, window)).rejects.toMatchObject({
      statusCode: 404,
      code: 'WORKFLOW_NOT_FOUND',
    });
    await expect(service.backfill(record.ownerId, randomUUID(), window)).rejects.toMatchObject({
      statusCode: 404,
      code: 'WORKFLOW_NOT_FOUND',
    });
    expect(schedules.backfill).not.toHaveBeenCalled();
  });

  it('answers 409 NO_SCHEDULE for a workflow without a schedule', async () => {
    const { service, workflow, schedules } = setup();
    const record = workflow(null);

    const error = await service
      .backfill(record.ownerId, record.id, { start: hourAgo(), end: minuteAgo() })
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ statusCode: 409, code: 'NO_SCHEDULE' });
    expect(schedules.backfill).not.toHaveBeenCalled();
  });

  it('answers 400 INVALID_WINDOW when end is not after start or is in the future', async () => {
    const { service, workflow, schedules } = setup();
    const { ownerId, id } = workflow({ every: '1h' });
    const at = hourAgo();
    const invalid = { statusCode: 400, code: 'INVALID_WINDOW' };

    await expect(service.backfill(ownerId, id, { start: at, end: at })).rejects.toMatchObject(invalid);
    await expect(service.backfill(ownerId, id, { start: minuteAgo(), end: at })).rejects.toMatchObject(
      invalid,
    );
    await expect(
      service.backfill(ownerId, id, { start: at, end: new Date(Date.now() + 60_000) }),
    ).rejects.toMatchObject(invalid);
    expect(schedules.backfill).not.toHaveBeenCalled();
  });

  it("asks Temporal to backfill the workflow's Schedule over the window, overlap skip unless given", async () => {
    const { service, workflow, schedules, scheduleOf } = setup();
    const { ownerId, id } = workflow({ every: '1h' });
    const start = hourAgo();
    const end = minuteAgo();

    // The Schedule was never created (Temporal was down at save): it is synced first.
    await service.backfill(ownerId, id, { start, end });
    expect(scheduleOf(id)).toBeDefined();
    await service.backfill(ownerId, id, { start, end, overlap: 'allow_all' });

    expect(schedules.backfill.mock.calls).toEqual([
      [`hookflow-${id}`, start, end, 'skip'],
      [`hookflow-${id}`, start, end, 'allow_all'],
    ]);
  });
});
