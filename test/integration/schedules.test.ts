import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { RunResource, RunSummary } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/*
 * Schedules (DESIGN §7) on the real dev server: Temporal starts the runs, the worker sends their emails through the
 * fake Resend, and the Schedule follows every change of the definition in PostgreSQL, including across a failed
 * Temporal call and an API restart.
 */

let stack: Stack;
let auth: { authorization: string; userId: string };

beforeAll(async () => {
  stack = await startStack();
  auth = await stack.signUp();
});
afterAll(async () => {
  await stack?.close();
});

const emailStep = (subject: string) => ({
  id: 'ping',
  type: 'email',
  params: { to: '{{trigger.body.to}}', subject, text: 'scheduled' },
  retry: { maxAttempts: 2, initialInterval: '100ms' },
});

async function request(
  app: App,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: object,
  authorization = auth.authorization,
) {
  return app.inject({ method, url, headers: { authorization }, ...(payload && { payload }) });
}

async function createScheduled(schedule: object, subject: string, app: App = stack.app) {
  const response = await request(app, 'POST', '/v1/workflows', {
    name: `Scheduled ${subject}`,
    schedule,
    steps: [emailStep(subject)],
  });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<WorkflowResource>();
}

const emailsWithSubject = (subject: string) =>
  stack.resend.emails.filter((email) => email.subject === subject);

const scheduleHandle = (workflowId: string) => stack.client.schedule.getHandle(`hookflow-${workflowId}`);

async function scheduleExists(workflowId: string): Promise<boolean> {
  try {
    await scheduleHandle(workflowId).describe();
    return true;
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return false;
    throw error;
  }
}

/** Resolves once `count` more emails with `subject` have arrived than `before`. */
async function moreEmails(subject: string, before: number, count = 1) {
  await eventually(
    () => Promise.resolve(emailsWithSubject(subject).length),
    (seen) => seen >= before + count,
    20_000,
  );
}

describe('schedules', () => {
  it('an every-2s schedule starts runs that send email; pause, unpause, edit and delete take effect', async () => {
    const workflow = await createScheduled({ every: '2s', payload: { to: 'clock@example.com' } }, 'tick v1');
    expect(workflow.schedule).toMatchObject({ every: '2s', paused: false, inSync: true });
    expect(workflow.schedule?.nextRunTimes.length).toBeGreaterThan(0);

    await moreEmails('tick v1', 0, 2);
    expect(emailsWithSubject('tick v1')[0]?.to).toEqual(['clock@example.com']);

    // The runs are ordinary runs: listed, readable by id, with their trigger.
    const list = await request(stack.app, 'GET', `/v1/workflows/${workflow.id}/runs`);
    const runs = list.json<{ items: RunSummary[] }>().items;
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const first = runs[0]!;
    expect(first.id).toMatch(/^run_[a-z2-7]{26}-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(first.trigger.type).toBe('schedule');
    expect(first.trigger.scheduledAt).toBe(
      `${first.id.slice(first.id.indexOf('-') + 1)}`.replace('Z', '.000Z'),
    );
    const single = await request(stack.app, 'GET', `/v1/runs/${first.id}`);
    expect(single.statusCode).toBe(200);
    expect(single.json<RunResource>().workflowVersion).toBe(1);

    // enabled: false pauses the Schedule, with a note saying why.
    const paused = await request(stack.app, 'PUT', `/v1/workflows/${workflow.id}`, {
      name: workflow.name,
      enabled: false,
      schedule: { every: '2s', payload: { to: 'clock@example.com' } },
      steps: [emailStep('tick v1')],
    });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json<WorkflowResource>().schedule).toMatchObject({ paused: true, inSync: true });
    const description = await scheduleHandle(workflow.id).describe();
    expect(description.state.paused).toBe(true);
    expect(description.state.note).toContain('enabled: false');
    // Nothing fires while paused (a run already due may still finish): 5 s covers two intervals.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const whilePaused = emailsWithSubject('tick v1').length;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(emailsWithSubject('tick v1').length).toBe(whilePaused);

    // enabled: true with new steps: the next scheduled run uses the new version.
    const edited = await request(stack.app, 'PUT', `/v1/workflows/${workflow.id}`, {
      name: workflow.name,
      enabled: true,
      schedule: { every: '2s', payload: { to: 'clock@example.com' } },
      steps: [emailStep('tick v3')],
    });
    expect(edited.json<WorkflowResource>()).toMatchObject({ version: 3, schedule: { paused: false } });
    await moreEmails('tick v3', 0);

    // DELETE deletes the Schedule: no run after it.
    const deleted = await request(stack.app, 'DELETE', `/v1/workflows/${workflow.id}`);
    expect(deleted.statusCode).toBe(204);
    expect(await scheduleExists(workflow.id)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const afterDelete = emailsWithSubject('tick v3').length;
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(emailsWithSubject('tick v3').length).toBe(afterDelete);
  });

  it('shows the next five run times of a cron with a time zone, from Temporal', async () => {
    const workflow = await createScheduled(
      { cron: '0 9 * * 1-5', timezone: 'Europe/Paris', payload: { to: 'weekday@example.com' } },
      'weekday',
    );
    const times = workflow.schedule?.nextRunTimes ?? [];
    expect(times).toHaveLength(5);
    const paris = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'Europe/Paris',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    for (const time of times) {
      const parts = Object.fromEntries(
        paris.formatToParts(new Date(time)).map((part) => [part.type, part.value]),
      );
      expect(`${parts.hour}:${parts.minute}`).toBe('09:00');
      expect(['Mon', 'Tue', 'Wed', 'Thu', 'Fri']).toContain(parts.weekday);
      expect(Date.parse(time)).toBeGreaterThan(Date.now());
    }
    expect([...times].sort()).toEqual(times);
    // schedule: null removes it.
    const removed = await request(stack.app, 'PUT', `/v1/workflows/${workflow.id}`, {
      name: workflow.name,
      schedule: null,
      steps: [emailStep('weekday')],
    });
    expect(removed.json<WorkflowResource>().schedule).toBeNull();
    expect(await scheduleExists(workflow.id)).toBe(false);
  });

  it('runs the schedule now on request, with its payload', async () => {
    const workflow = await createScheduled(
      { cron: '0 0 1 1 *', payload: { to: 'now@example.com' } },
      'run now',
    );
    const response = await request(stack.app, 'POST', `/v1/workflows/${workflow.id}/schedule/trigger`);
    expect(response.statusCode, response.body).toBe(202);
    const run = response.json<RunResource>();
    expect(run.trigger.type).toBe('schedule');
    await moreEmails('run now', 0);
    expect(emailsWithSubject('run now')[0]?.to).toEqual(['now@example.com']);
    const done = await eventually(
      async () => (await request(stack.app, 'GET', `/v1/runs/${run.id}`)).json<RunResource>(),
      (value) => value.status !== 'running',
    );
    expect(done.status).toBe('completed');
  });

  it('backfills a past window: one run per time the schedule was due in it', async () => {
    const workflow = await createScheduled(
      { every: '1m', payload: { to: 'backfill@example.com' } },
      'backfilled',
    );
    const end = new Date(Date.now() - 5_000);
    const start = new Date(end.getTime() - 3 * 60_000);
    const response = await request(stack.app, 'POST', `/v1/workflows/${workflow.id}/schedule/backfill`, {
      start: start.toISOString(),
      end: end.toISOString(),
      overlap: 'allow_all',
    });
    expect(response.statusCode, response.body).toBe(202);
    // Every 1m is due on each whole minute: three of them fall in a 3-minute window.
    await moreEmails('backfilled', 0, 3);
    const runs = (await request(stack.app, 'GET', `/v1/workflows/${workflow.id}/runs`)).json<{
      items: RunSummary[];
    }>().items;
    const due = runs.map((run) => run.trigger.scheduledAt ?? '').filter((at) => at !== '');
    expect(due.length).toBeGreaterThanOrEqual(3);
    for (const at of due.filter((time) => Date.parse(time) <= end.getTime())) {
      expect(Date.parse(at)).toBeGreaterThanOrEqual(start.getTime());
      expect(new Date(at).getUTCSeconds()).toBe(0);
    }
    const future = await request(stack.app, 'POST', `/v1/workflows/${workflow.id}/schedule/backfill`, {
      start: start.toISOString(),
      end: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(future.statusCode).toBe(400);
    expect(future.json()).toMatchObject({ error: { code: 'INVALID_WINDOW' } });
    await request(stack.app, 'DELETE', `/v1/workflows/${workflow.id}`);
  });

  it('refuses invalid schedules with 400 naming the field', async () => {
    const cases: [object, string, RegExp][] = [
      [{ cron: '61 * * * *' }, 'body.schedule.cron', /invalid cron expression/],
      [{ cron: '0 9 * *' }, 'body.schedule.cron', /5 fields/],
      [{ cron: '0 9 * * *', timezone: 'Mars/Olympus' }, 'body.schedule.timezone', /IANA time zone/],
      [{ cron: '0 9 * * *', every: '1h' }, 'body.schedule', /exactly one of "cron"/],
      [{}, 'body.schedule', /exactly one of "cron"/],
      [{ every: '500ms' }, 'body.schedule.every', /at least 1s/],
      [{ every: '1m', overlap: 'queue' }, 'body.schedule.overlap', /skip, buffer_one, allow_all/],
      [{ every: '1m', catchupWindow: '1s' }, 'body.schedule.catchupWindow', /at least 10s/],
    ];
    for (const [schedule, path, message] of cases) {
      const response = await request(stack.app, 'POST', '/v1/workflows', {
        name: 'Bad schedule',
        schedule,
        steps: [emailStep('never')],
      });
      expect(response.statusCode, JSON.stringify(schedule)).toBe(400);
      const details = response.json<{ error: { details: { path: string; message: string }[] } }>().error
        .details;
      const matching = details.filter((detail) => detail.path === path && message.test(detail.message));
      expect(matching, `${JSON.stringify(schedule)}: ${JSON.stringify(details)}`).toHaveLength(1);
    }
  });

  it("keeps each account's schedules to itself", async () => {
    const workflow = await createScheduled({ cron: '0 0 1 1 *', payload: {} }, 'private');
    const other = await stack.signUp();
    for (const path of ['trigger', 'backfill']) {
      const response = await request(
        stack.app,
        'POST',
        `/v1/workflows/${workflow.id}/schedule/${path}`,
        path === 'backfill' ? { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' } : undefined,
        other.authorization,
      );
      expect(response.statusCode, path).toBe(404);
    }
    const noSchedule = await request(stack.app, 'POST', '/v1/workflows', {
      name: 'Unscheduled',
      steps: [emailStep('x')],
    });
    const id = noSchedule.json<WorkflowResource>().id;
    const trigger = await request(stack.app, 'POST', `/v1/workflows/${id}/schedule/trigger`);
    expect(trigger.statusCode).toBe(409);
    expect(trigger.json()).toMatchObject({ error: { code: 'NO_SCHEDULE' } });
  });
});

describe('schedules stay consistent with PostgreSQL through Temporal failures', () => {
  /** An API whose Schedule calls fail (its schedule client points at a port nothing listens on). */
  async function appWithBrokenSchedules(): Promise<{ app: App; close(): Promise<void> }> {
    const lazy = Connection.lazy({ address: `127.0.0.1:${await findFreePort()}` });
    const broken = new Client({ connection: lazy, namespace: stack.config.temporal.namespace });
    const client = stack.client;
    const app = await buildApp({
      config: stack.config,
      db: stack.db,
      temporal: {
        client: {
          workflow: client.workflow,
          workflowService: client.workflowService,
          withDeadline: client.withDeadline.bind(client),
          options: client.options,
          schedule: broken.schedule,
        },
      },
    });
    return {
      app,
      async close() {
        await app.close();
        await lazy.close();
      },
    };
  }

  /** A restarted API: a new app on the same database, reconciling when it is ready. */
  async function restartedApp(): Promise<App> {
    const client = stack.client;
    const app = await buildApp({ config: stack.config, db: stack.db, temporal: { client } });
    await app.ready();
    return app;
  }

  it('a schedule saved while Temporal failed is created on restart; a workflow deleted meanwhile never fires', async () => {
    const broken = await appWithBrokenSchedules();
    let created: WorkflowResource;
    let removed: WorkflowResource;
    try {
      created = await createScheduled(
        { every: '2s', payload: { to: 'repair@example.com' } },
        'repaired',
        broken.app,
      );
      // The definition is saved; the Schedule is not written yet, and the resource says so.
      expect(created.schedule).toMatchObject({ inSync: false, nextRunTimes: [] });
      expect(await scheduleExists(created.id)).toBe(false);

      // A workflow whose Schedule exists, deleted while Temporal fails: its Schedule is left behind.
      removed = await createScheduled({ every: '2s', payload: { to: 'orphan@example.com' } }, 'orphan');
      expect(await scheduleExists(removed.id)).toBe(true);
      const deleted = await request(broken.app, 'DELETE', `/v1/workflows/${removed.id}`);
      expect(deleted.statusCode).toBe(204);
      expect(await scheduleExists(removed.id)).toBe(true);
    } finally {
      await broken.close();
    }

    const restarted = await restartedApp();
    try {
      await eventually(
        async () => (await scheduleExists(created.id)) && !(await scheduleExists(removed.id)),
        (repaired) => repaired,
        20_000,
      );
      const view = await request(restarted, 'GET', `/v1/workflows/${created.id}`);
      expect(view.json<WorkflowResource>().schedule).toMatchObject({ inSync: true, paused: false });
      await moreEmails('repaired', 0);
      // The orphan fired at most until the reconcile deleted it; nothing after.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const orphanEmails = emailsWithSubject('orphan').length;
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      expect(emailsWithSubject('orphan').length).toBe(orphanEmails);
    } finally {
      await request(restarted, 'DELETE', `/v1/workflows/${created.id}`);
      await restarted.close();
    }
  });

  it('reconciles of one API process run one at a time: an orphan is deleted once, never raced', async () => {
    const orphan = await createScheduled({ every: '1h', payload: {} }, 'raced orphan');
    const broken = await appWithBrokenSchedules();
    try {
      expect((await request(broken.app, 'DELETE', `/v1/workflows/${orphan.id}`)).statusCode).toBe(204);
    } finally {
      await broken.close();
    }
    expect(await scheduleExists(orphan.id)).toBe(true);
    // The restarted app's start-up reconcile deletes the orphan; the two asked for meanwhile wait their turn and
    // find nothing left to do (overlapping, all three would describe the orphan and each delete it).
    const restarted = await restartedApp();
    try {
      const [first, second] = await Promise.all([
        restarted.reconcileSchedules(),
        restarted.reconcileSchedules(),
      ]);
      expect(first).toMatchObject({ deleted: 0, failed: 0 });
      expect(second).toMatchObject({ deleted: 0, failed: 0 });
      expect(await scheduleExists(orphan.id)).toBe(false);
    } finally {
      await restarted.close();
    }
  });

  it('a stale Schedule is rewritten from the database, and reconciling twice changes nothing', async () => {
    const broken = await appWithBrokenSchedules();
    const workflow = await createScheduled({ cron: '0 0 1 1 *', payload: {} }, 'stale v1');
    try {
      const updated = await request(broken.app, 'PUT', `/v1/workflows/${workflow.id}`, {
        name: workflow.name,
        schedule: { cron: '30 6 * * *', timezone: 'UTC', payload: {} },
        steps: [emailStep('stale v2')],
      });
      expect(updated.json<WorkflowResource>().schedule).toMatchObject({ inSync: false });
    } finally {
      await broken.close();
    }
    const restarted = await restartedApp();
    try {
      const view = await eventually(
        async () =>
          (await request(restarted, 'GET', `/v1/workflows/${workflow.id}`)).json<WorkflowResource>(),
        (value) => value.schedule?.inSync === true,
        20_000,
      );
      for (const time of view.schedule?.nextRunTimes ?? []) expect(time).toMatch(/T06:30:00(\.000)?Z$/);
      const description = await scheduleHandle(workflow.id).describe();
      const before = description.raw.conflictToken;
      expect(await restarted.reconcileSchedules()).toMatchObject({
        created: 0,
        updated: 0,
        deleted: 0,
        failed: 0,
      });
      expect((await scheduleHandle(workflow.id).describe()).raw.conflictToken).toEqual(before);
    } finally {
      await request(restarted, 'DELETE', `/v1/workflows/${workflow.id}`);
      await restarted.close();
    }
  });
});
