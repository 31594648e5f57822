import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { WorkflowRecord } from '../../src/db/repos/workflow-repo.js';
import { stepsSchema } from '../../src/dsl/schema.js';
import { UnavailableError } from '../../src/errors.js';
import { createStartGate } from '../../src/limits/start-gate.js';
import { createRunService, MAX_RUN_INPUT_BYTES } from '../../src/api/services/run-service.js';
import {
  PageTokenRejectedError,
  type RunDescription,
  type RunProgressReport,
  type TemporalAdapter,
} from '../../src/temporal/adapter.js';
import {
  pendingStep,
  type RunStepsInput,
  type StepState,
  type TriggerInput,
} from '../../src/workflows/types.js';

/** What the run service needs of the Temporal adapter. */
type Port = Pick<
  TemporalAdapter,
  'startRun' | 'describeRun' | 'runProgress' | 'listRuns' | 'cancelRun' | 'runStartInput'
>;

/**
 * The Temporal adapter's contract in memory: a start records the run (a second start with the same id is a
 * duplicate), describe answers what was recorded, listing pages through runs in start order.
 */
function fakeTemporal() {
  const runs = new Map<
    string,
    { input: RunStepsInput; description: RunDescription; report: RunProgressReport }
  >();
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const temporal = {
    startRun: vi.fn<Port['startRun']>((input) => {
      if (runs.has(input.run.id)) return Promise.resolve({ duplicate: true });
      const { definition, trigger } = input;
      const memo = {
        workflowId: definition.workflowId,
        workflowVersion: definition.version,
        trigger: { type: trigger.type, receivedAt: trigger.receivedAt },
        steps: definition.steps.map(({ id, type }) => ({ id, type })),
        retryOf: input.run.retryOf ?? null,
      };
      const description: RunDescription = {
        id: input.run.id,
        temporalRunId: randomUUID(),
        status: 'running',
        ownerId: input.run.ownerId,
        workflowId: definition.workflowId,
        memo,
        startedAt: new Date((clock += 1000)),
        closedAt: undefined,
        pendingActivity: undefined,
      };
      runs.set(input.run.id, { input, description, report: { progress: null, failureMessage: null } });
      return Promise.resolve({ duplicate: false });
    }),
    describeRun: vi.fn<Port['describeRun']>((runId) => Promise.resolve(runs.get(runId)?.description)),
    runProgress: vi.fn<Port['runProgress']>((run) => Promise.resolve(runs.get(run.id)!.report)),
    listRuns: vi.fn<Port['listRuns']>((filter) => {
      const all = [...runs.values()]
        .map((run) => run.description)
        .filter(
          (run) =>
            run.ownerId === filter.ownerId &&
            run.workflowId === filter.workflowId &&
            (!filter.status || run.status === filter.status),
        );
      const from = Number(filter.pageToken ?? 0);
      const next = from + filter.pageSize;
      return Promise.resolve({
        runs: all.slice(from, next),
        nextPageToken: next < all.length ? String(next) : undefined,
      });
    }),
    cancelRun: vi.fn<Port['cancelRun']>(() => Promise.resolve()),
    runStartInput: vi.fn<Port['runStartInput']>((run) => Promise.resolve(runs.get(run.id)!.input)),
  } satisfies Port;
  return { temporal, runs };
}

const steps = stepsSchema.parse([
  {
    id: 'crm',
    type: 'http',
    onFailure: 'continue',
    params: { method: 'POST', url: 'https://crm.example.com/contacts' },
  },
  { id: 'welcome', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Welcome', text: 'Hi' } },
  {
    id: 'nudge',
    type: 'email',
    params: { to: '{{trigger.body.email}}', subject: 'Still there?', text: 'Hi' },
  },
]);

function setup() {
  const fake = fakeTemporal();
  const workflows = new Map<string, WorkflowRecord>();
  const config = {
    temporal: { namespace: 'hookflow-tests', uiUrl: 'http://temporal-ui.test' },
    http: { publicUrl: 'http://hookflow.test' },
  };
  const service = createRunService({
    temporal: fake.temporal,
    workflows: {
      findOwned: (ownerId, id) =>
        Promise.resolve([workflows.get(id)].find((record) => record?.ownerId === ownerId)),
    },
    startGate: createStartGate(0),
    config,
  });
  function workflowOf(ownerId: string): WorkflowRecord {
    const now = new Date();
    const record: WorkflowRecord = {
      id: randomUUID(),
      ownerId,
      name: 'Welcome series',
      description: '',
      enabled: true,
      version: 3,
      steps,
      schedule: null,
      webhookTokenCiphertext: Buffer.alloc(0),
      webhookSigning: 'none',
      webhookSecretCiphertext: null,
      previousWebhookExpiresAt: null,
      createdAt: now,
      updatedAt: now,
    };
    workflows.set(record.id, record);
    return record;
  }
  const trigger = (body: unknown = { email: 'ada@example.com' }): TriggerInput => ({
    type: 'webhook',
    receivedAt: new Date().toISOString(),
    body,
    query: {},
    headers: {},
  });
  /** Ends a run as a failed one whose failure details hold `progress`. */
  function fail(runId: string, progress: { currentStepId: string | null; steps: StepState[] }) {
    const run = fake.runs.get(runId)!;
    run.description = { ...run.description, status: 'failed', closedAt: new Date() };
    run.report = { progress, failureMessage: `step ${progress.currentStepId} failed` };
  }
  return { ...fake, service, config, workflowOf, trigger, fail };
}

const step = (id: string, patch: Partial<StepState>): StepState => ({
  ...pendingStep(steps.find((s) => s.id === id)!),
  ...patch,
});

describe('run service: reading runs', () => {
  it("answers another owner's run exactly like a missing one: 404 RUN_NOT_FOUND", async () => {
    const { service, workflowOf, trigger, temporal } = setup();
    const alice = randomUUID();
    const { runId } = await service.startRun(workflowOf(alice), trigger());

    const asBob = await service.getRun(randomUUID(), runId).catch((error: unknown) => error);
    const missing = await service.getRun(alice, 'run_doesnotexist').catch((error: unknown) => error);
    expect(asBob).toMatchObject({ statusCode: 404, code: 'RUN_NOT_FOUND' });
    expect(missing).toMatchObject({ statusCode: 404, code: 'RUN_NOT_FOUND' });
    expect((asBob as Error).message.replace(runId, '<id>')).toBe(
      (missing as Error).message.replace('run_doesnotexist', '<id>'),
    );
    await expect(service.cancel(randomUUID(), runId)).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
    await expect(service.retry(randomUUID(), runId)).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
    expect(temporal.cancelRun).not.toHaveBeenCalled();
    expect(temporal.startRun).toHaveBeenCalledTimes(1);
  });

  it("maps status, memo and progress, and the pending activity's attempts and next retry", async () => {
    const { service, workflowOf, trigger, runs, config } = setup();
    const owner = randomUUID();
    const workflow = workflowOf(owner);
    const hit = trigger();
    const { runId } = await service.startRun(workflow, hit);
    const run = runs.get(runId)!;

    // Before any worker answers, the steps come from the memo, all pending.
    const early = await service.getRun(owner, runId);
    expect(early).toMatchObject({
      id: runId,
      workflowId: workflow.id,
      workflowVersion: workflow.version,
      status: 'running',
      trigger: { type: 'webhook', receivedAt: hit.receivedAt },
      retryOf: null,
      startedAt: run.description.startedAt.toISOString(),
      closedAt: null,
      error: null,
    });
    expect(early.steps.map((s) => [s.id, s.status])).toEqual(steps.map((s) => [s.id, 'pending']));
    expect(early.temporal).toMatchObject({ workflowId: runId, runId: run.description.temporalRunId });
    for (const part of [
      config.temporal.uiUrl,
      config.temporal.namespace,
      runId,
      run.description.temporalRunId,
    ]) {
      expect(early.temporal.uiUrl).toContain(part);
    }

    const startedAt = new Date().toISOString();
    run.report = {
      progress: {
        currentStepId: 'welcome',
        steps: [
          step('crm', { status: 'completed', attempts: 1, output: { status: 201 } }),
          step('welcome', { status: 'running', attempts: 1, startedAt }),
          step('nudge', {}),
        ],
      },
      failureMessage: null,
    };
    const nextAttemptAt = new Date(Date.now() + 60_000);
    run.description = {
      ...run.description,
      pendingActivity: { attempt: 3, nextAttemptAt, lastFailureMessage: 'provider answered 500' },
    };
    const retrying = await service.getRun(owner, runId);
    expect(retrying.steps[0]).toMatchObject({
      id: 'crm',
      status: 'completed',
      output: { status: 201 },
      nextAttemptAt: null,
    });
    expect(retrying.steps[1]).toMatchObject({
      id: 'welcome',
      status: 'retrying',
      attempts: 3,
      startedAt,
      nextAttemptAt: nextAttemptAt.toISOString(),
      error: { message: 'provider answered 500' },
    });
    expect(retrying.steps[2]).toMatchObject({ id: 'nudge', status: 'pending' });

    // A first attempt in flight is running, not retrying.
    run.description = {
      ...run.description,
      pendingActivity: { attempt: 1, nextAttemptAt: undefined, lastFailureMessage: undefined },
    };
    expect((await service.getRun(owner, runId)).steps[1]).toMatchObject({ status: 'running', attempts: 1 });
  });

  it('shows the failure a failed run ended with', async () => {
    const { service, workflowOf, trigger, fail, runs } = setup();
    const owner = randomUUID();
    const { runId } = await service.startRun(workflowOf(owner), trigger());
    fail(runId, { currentStepId: 'welcome', steps: [step('welcome', { status: 'failed' })] });
    const run = await service.getRun(owner, runId);
    expect(run.status).toBe('failed');
    expect(run.error).toBe(runs.get(runId)!.report.failureMessage);
    expect(run.closedAt).toBe(runs.get(runId)!.description.closedAt!.toISOString());
  });

  it('lists a workflow’s runs newest first, page by page, with a cursor', async () => {
    const { service, workflowOf, trigger, temporal } = setup();
    const owner = randomUUID();
    const workflow = workflowOf(owner);
    const started: string[] = [];
    for (let i = 0; i < 5; i++) started.push((await service.startRun(workflow, trigger())).runId);
    await service.startRun(workflowOf(owner), trigger()); // another workflow's run

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await service.listRuns(owner, workflow.id, { limit: 2, cursor });
      const times = page.items.map((item) => item.startedAt);
      expect(times).toEqual([...times].sort().reverse());
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect([...seen].sort()).toEqual([...started].sort());
    expect(temporal.listRuns.mock.calls.map(([filter]) => filter.pageSize)).toEqual([2, 2, 2]);

    const running = await service.listRuns(owner, workflow.id, { limit: 10, status: 'running' });
    expect(temporal.listRuns.mock.lastCall?.[0]).toMatchObject({
      status: 'running',
      ownerId: owner,
    });
    expect(running.items).toHaveLength(5);
    expect(running.nextCursor).toBeNull();
  });

  it('refuses a cursor it did not issue, or one Temporal rejects, with 400 INVALID_CURSOR', async () => {
    const { service, workflowOf, temporal } = setup();
    const owner = randomUUID();
    const workflow = workflowOf(owner);
    for (const cursor of ['not a cursor', Buffer.from('[42]').toString('base64url')]) {
      await expect(service.listRuns(owner, workflow.id, { limit: 5, cursor })).rejects.toMatchObject({
        statusCode: 400,
        code: 'INVALID_CURSOR',
      });
    }
    expect(temporal.listRuns).not.toHaveBeenCalled();

    temporal.listRuns.mockRejectedValueOnce(new PageTokenRejectedError());
    const stale = Buffer.from(JSON.stringify(['c3RhbGU='])).toString('base64url');
    await expect(service.listRuns(owner, workflow.id, { limit: 5, cursor: stale })).rejects.toMatchObject({
      statusCode: 400,
      code: 'INVALID_CURSOR',
    });
    await expect(service.listRuns(randomUUID(), workflow.id, { limit: 5 })).rejects.toMatchObject({
      statusCode: 404,
      code: 'WORKFLOW_NOT_FOUND',
    });
  });
});

describe('run service: controlling runs', () => {
  it('cancels a running run and refuses a closed one with 409 RUN_NOT_RUNNING', async () => {
    const { service, workflowOf, trigger, fail, temporal, runs } = setup();
    const owner = randomUUID();
    const workflow = workflowOf(owner);
    const { runId } = await service.startRun(workflow, trigger());
    await service.cancel(owner, runId);
    expect(temporal.cancelRun).toHaveBeenCalledWith(
      expect.objectContaining({ id: runId, temporalRunId: runs.get(runId)!.description.temporalRunId }),
    );

    const closed = (await service.startRun(workflow, trigger())).runId;
    fail(closed, { currentStepId: 'welcome', steps: [] });
    await expect(service.cancel(owner, closed)).rejects.toMatchObject({
      statusCode: 409,
      code: 'RUN_NOT_RUNNING',
    });
    expect(temporal.cancelRun).toHaveBeenCalledTimes(1);
  });

  it('refuses to retry a run that did not fail: 409 RUN_NOT_RETRYABLE', async () => {
    const { service, workflowOf, trigger, temporal } = setup();
    const owner = randomUUID();
    const { runId } = await service.startRun(workflowOf(owner), trigger());
    await expect(service.retry(owner, runId)).rejects.toMatchObject({
      statusCode: 409,
      code: 'RUN_NOT_RETRYABLE',
    });
    expect(temporal.startRun).toHaveBeenCalledTimes(1);
  });

  it('retries a failed run from the step that stopped it, keeping the first run’s idempotency keys', async () => {
    const { service, workflowOf, trigger, fail, runs, temporal } = setup();
    const owner = randomUUID();
    const hit = trigger({ email: 'grace@example.com' });
    const first = (await service.startRun(workflowOf(owner), hit)).runId;
    // "crm" failed earlier but goes on (onFailure: continue); "welcome" is the step that stopped the run.
    const failedSteps = [
      step('crm', { status: 'failed', attempts: 1, error: { message: 'HTTP 500' } }),
      step('welcome', { status: 'failed', attempts: 8, error: { message: 'provider down' } }),
      step('nudge', {}),
    ];
    fail(first, { currentStepId: 'welcome', steps: failedSteps });

    const retried = await service.retry(owner, first);
    expect(retried.duplicate).toBe(false);
    expect(retried.run.id).not.toBe(first);
    expect(retried.run).toMatchObject({ status: 'running', retryOf: first, trigger: { type: 'retry' } });
    const second = runs.get(retried.run.id)!.input;
    expect(second.run).toMatchObject({ ownerId: owner, retryOf: first, idempotencyPrefix: first });
    expect(second.resume).toEqual({ fromStepId: 'welcome', steps: failedSteps });
    expect(second.definition).toEqual(runs.get(first)!.input.definition);
    expect(second.trigger.body).toEqual(hit.body);

    // A retry of the retry still sends the first run's idempotency keys.
    fail(retried.run.id, {
      currentStepId: 'nudge',
      steps: [failedSteps[0]!, step('welcome', { status: 'completed' }), step('nudge', { status: 'failed' })],
    });
    const again = await service.retry(owner, retried.run.id);
    expect(new Set([first, retried.run.id, again.run.id]).size).toBe(3);
    expect(runs.get(again.run.id)!.input.run).toMatchObject({
      retryOf: retried.run.id,
      idempotencyPrefix: first,
    });
    expect(runs.get(again.run.id)!.input.resume?.fromStepId).toBe('nudge');

    // Asking again for the same retry starts nothing new: the same run, marked as a duplicate.
    const count = runs.size;
    const repeated = await service.retry(owner, first);
    expect(repeated).toMatchObject({ duplicate: true, run: { id: retried.run.id } });
    expect(runs.size).toBe(count);
    expect(temporal.startRun).toHaveBeenCalledTimes(4);
  });
});

describe('run service: starting runs', () => {
  it(`refuses a run input over ${MAX_RUN_INPUT_BYTES} bytes with 413 before asking Temporal`, async () => {
    const { service, workflowOf, trigger, temporal } = setup();
    const owner = randomUUID();
    const workflow = workflowOf(owner);
    const large = 'x'.repeat(MAX_RUN_INPUT_BYTES);
    await expect(service.startManualRun(owner, workflow.id, { large })).rejects.toMatchObject({
      statusCode: 413,
      code: 'RUN_INPUT_TOO_LARGE',
    });
    await expect(service.startRun(workflow, trigger({ large }))).rejects.toMatchObject({
      code: 'RUN_INPUT_TOO_LARGE',
    });
    expect(temporal.startRun).not.toHaveBeenCalled();
  });

  it('answers 503 with Retry-After when Temporal cannot take the start (no fallback: nothing started)', async () => {
    const { service, workflowOf, trigger, temporal } = setup();
    const owner = randomUUID();
    const workflow = workflowOf(owner);
    temporal.startRun.mockRejectedValue(new UnavailableError('Temporal is down'));
    for (const attempt of [
      () => service.startRun(workflow, trigger(), 'delivery-1'),
      () => service.startManualRun(owner, workflow.id, { email: 'a@example.com' }),
    ]) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(UnavailableError);
      expect(error).toMatchObject({
        statusCode: 503,
        headers: { 'retry-after': expect.any(String) as string },
      });
    }
    expect(temporal.describeRun).not.toHaveBeenCalled();
  });

  it('answers a manual run from what it knows when Temporal blips right after the start', async () => {
    const { service, workflowOf, temporal, runs } = setup();
    const owner = randomUUID();
    const workflow = workflowOf(owner);
    temporal.describeRun.mockRejectedValueOnce(new UnavailableError('Temporal is down'));
    const run = await service.startManualRun(owner, workflow.id, { email: 'a@example.com' });

    const [startedId] = [...runs.keys()];
    expect(run).toMatchObject({
      id: startedId,
      workflowId: workflow.id,
      workflowVersion: workflow.version,
      status: 'running',
      trigger: { type: 'manual' },
      retryOf: null,
      closedAt: null,
      error: null,
      temporal: { workflowId: startedId },
    });
    expect(run.steps.map((s) => [s.id, s.status])).toEqual(workflow.steps.map((s) => [s.id, 'pending']));
    expect(runs.get(startedId!)!.input.trigger.body).toEqual({ email: 'a@example.com' });

    // Any other failure is not papered over.
    temporal.describeRun.mockRejectedValueOnce(new Error('bug'));
    await expect(service.startManualRun(owner, workflow.id, {})).rejects.toThrow('bug');
  });

  it('starts a webhook run once per delivery key', async () => {
    const { service, workflowOf, trigger, runs } = setup();
    const workflow = workflowOf(randomUUID());
    const first = await service.startRun(workflow, trigger(), 'evt_1');
    const repeated = await service.startRun(workflow, trigger(), 'evt_1');
    const other = await service.startRun(workflow, trigger(), 'evt_2');
    expect(first.duplicate).toBe(false);
    expect(repeated).toEqual({ runId: first.runId, duplicate: true });
    expect(other.runId).not.toBe(first.runId);
    expect(runs.size).toBe(2);
    expect(service.statusUrl(first.runId)).toContain(first.runId);
  });
});
