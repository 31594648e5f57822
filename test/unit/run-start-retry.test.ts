import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import type { WorkflowRecord } from '../../src/db/repos/workflow-repo.js';
import { stepsSchema } from '../../src/dsl/schema.js';
import { AppError, UnavailableError } from '../../src/errors.js';
import { createStartGate, type StartGate } from '../../src/limits/start-gate.js';
import { createHookService } from '../../src/api/services/hook-service.js';
import { createRunService, START_BUDGET_MS } from '../../src/api/services/run-service.js';
import { secretsKeyFromBytes } from '../../src/secrets/crypto.js';
import { createWebhookCredentials } from '../../src/secrets/webhook-credentials.js';
import type { TemporalAdapter } from '../../src/temporal/adapter.js';
import type { RunStepsInput, TriggerInput } from '../../src/workflows/types.js';

type StartRun = TemporalAdapter['startRun'];

/**
 * What one start attempt does on the fake Temporal:
 * - `lost`: the start reaches the server and the run starts, but the answer never comes back (a deadline or a
 *   cancelled call): the caller sees UnavailableError.
 * - `down`: the start never reaches the server: UnavailableError, nothing started.
 * - `ok`: Temporal answers (a run id it has seen is a duplicate).
 * - `held`: the start reaches the server and is answered (like `ok`) only when the test calls `release()`.
 */
type Attempt = 'lost' | 'down' | 'ok' | 'held';

function fakeTemporal(script: Attempt[]) {
  const started = new Map<string, RunStepsInput>();
  const attempts: { runId: string; deadline: number | undefined }[] = [];
  const held: (() => void)[] = [];
  const startRun = vi.fn<StartRun>((input, deadline) => {
    const behaviour = script[attempts.length] ?? 'ok';
    attempts.push({ runId: input.run.id, deadline });
    if (behaviour === 'down') return Promise.reject(new UnavailableError('Temporal cannot be reached.'));
    const duplicate = started.has(input.run.id);
    if (!duplicate) started.set(input.run.id, input);
    if (behaviour === 'lost') return Promise.reject(new UnavailableError('Temporal cannot be reached.'));
    if (behaviour === 'held') return new Promise((resolve) => held.push(() => resolve({ duplicate })));
    return Promise.resolve({ duplicate });
  });
  const unused = () => Promise.reject(new Error('not used by starts'));
  return {
    started,
    attempts,
    /** Answers the oldest `held` start still unanswered. */
    release: () => held.shift()?.(),
    temporal: {
      startRun,
      describeRun: unused,
      runProgress: unused,
      listRuns: unused,
      cancelRun: unused,
      runStartInput: unused,
    },
  };
}

const steps = stepsSchema.parse([{ id: 'wait', type: 'delay', params: { duration: '1h' } }]);

/** `startGate` defaults to one without a limit, as RUN_START_CONCURRENCY=0 configures. */
function setup(script: Attempt[], startGate: StartGate = createStartGate(0)) {
  const fake = fakeTemporal(script);
  const now = new Date();
  const workflow: WorkflowRecord = {
    id: randomUUID(),
    ownerId: randomUUID(),
    name: 'Retry on start',
    description: '',
    enabled: true,
    version: 1,
    steps,
    schedule: null,
    webhookTokenCiphertext: Buffer.alloc(0),
    webhookSigning: 'none',
    webhookSecretCiphertext: null,
    previousWebhookExpiresAt: null,
    createdAt: now,
    updatedAt: now,
  };
  const runs = createRunService({
    temporal: fake.temporal,
    workflows: { findOwned: () => Promise.resolve(workflow) },
    startGate,
    config: {
      temporal: { namespace: 'hookflow-tests', uiUrl: 'http://temporal-ui.test' },
      http: { publicUrl: 'http://hookflow.test' },
    },
  });
  const trigger: TriggerInput = {
    type: 'webhook',
    receivedAt: now.toISOString(),
    body: { email: 'ada@example.com' },
    query: {},
    headers: {},
  };
  return { ...fake, runs, workflow, trigger };
}

describe('starting a run when Temporal does not answer', () => {
  it('retries with the same run id; "already started" after a lost answer is this request\'s own new run', async () => {
    const { runs, workflow, trigger, attempts, started } = setup(['lost', 'ok']);
    // No delivery key: the run id is random, so only this request can have started it.
    const result = await runs.startRun(workflow, trigger);
    expect(result).toEqual({ runId: attempts[0]!.runId, duplicate: false });
    expect(attempts.map((attempt) => attempt.runId)).toEqual([result.runId, result.runId]);
    expect([...started.keys()]).toEqual([result.runId]);
  });

  it('answers a webhook caller with the run it started (202, not a duplicate)', async () => {
    const { runs, workflow, started } = setup(['lost', 'ok']);
    const hooks = createHookService({
      workflows: { findByWebhookTokenHash: () => Promise.resolve(workflow) },
      runs,
      credentials: createWebhookCredentials(secretsKeyFromBytes(randomBytes(32))),
    });
    const accepted = await hooks.deliver({
      token: `whk_${'a'.repeat(43)}`,
      contentType: 'application/json',
      rawBody: Buffer.from('{"email":"ada@example.com"}'),
      query: {},
      headers: {},
    });
    expect(accepted).toMatchObject({ duplicate: false, runId: [...started.keys()][0] });
    expect(started.size).toBe(1);
  });

  it('retries a start that never reached Temporal, and starts the run once', async () => {
    const { runs, workflow, trigger, attempts, started } = setup(['down', 'down', 'ok']);
    const result = await runs.startRun(workflow, trigger, 'delivery-1');
    expect(result.duplicate).toBe(false);
    expect(attempts).toHaveLength(3);
    expect([...started.keys()]).toEqual([result.runId]);
  });

  it('still reports a real duplicate: a repeated delivery that Temporal answers at once', async () => {
    const { runs, workflow, trigger, attempts } = setup(['ok', 'ok']);
    const first = await runs.startRun(workflow, trigger, 'delivery-2');
    const again = await runs.startRun(workflow, trigger, 'delivery-2');
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ runId: first.runId, duplicate: true });
    expect(attempts).toHaveLength(2);
  });

  it('gives up with 503 after three attempts, all within the start budget', async () => {
    const { runs, workflow, trigger, attempts } = setup(['down', 'down', 'down', 'down']);
    const before = Date.now();
    const error = await runs.startRun(workflow, trigger).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(error).toMatchObject({
      statusCode: 503,
      headers: { 'retry-after': expect.any(String) as string },
    });
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((attempt) => attempt.runId)).size).toBe(1);
    for (const { deadline } of attempts) {
      expect(deadline).toBeGreaterThan(before);
      expect(deadline).toBeLessThanOrEqual(before + START_BUDGET_MS + 50);
    }
    // The first attempt leaves time for the others; the last one may use whatever is left.
    expect(attempts[0]!.deadline!).toBeLessThan(before + START_BUDGET_MS);
    expect(attempts[2]!.deadline!).toBeGreaterThan(attempts[0]!.deadline!);
  });

  it('does not retry an error that is not about reaching Temporal', async () => {
    const { runs, workflow, trigger, temporal } = setup([]);
    temporal.startRun.mockRejectedValueOnce(new Error('bad request'));
    await expect(runs.startRun(workflow, trigger)).rejects.toThrow('bad request');
    expect(temporal.startRun).toHaveBeenCalledTimes(1);
  });
});

describe('starts through the start gate (RUN_START_CONCURRENCY)', () => {
  it('sends a second concurrent start to Temporal only once the first is answered', async () => {
    const { runs, workflow, trigger, temporal, release } = setup(['held', 'held'], createStartGate(1));
    const first = runs.startRun(workflow, trigger);
    const second = runs.startRun(workflow, trigger);
    await vi.waitFor(() => expect(temporal.startRun).toHaveBeenCalledTimes(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(temporal.startRun).toHaveBeenCalledTimes(1);

    release();
    await first;
    await vi.waitFor(() => expect(temporal.startRun).toHaveBeenCalledTimes(2));
    release();
    expect((await second).duplicate).toBe(false);
  });

  it('answers 503 OVER_CAPACITY with Retry-After, starting nothing, when no turn comes within half the budget', async () => {
    vi.useFakeTimers();
    try {
      const { runs, workflow, trigger, temporal, started } = setup(['held'], createStartGate(1));
      void runs.startRun(workflow, trigger); // never answered: holds the only turn
      const refused = runs.startRun(workflow, trigger).catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(START_BUDGET_MS / 2);
      const error = await refused;
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: 'OVER_CAPACITY', statusCode: 503 });
      expect((error as AppError).message).toMatch(/Nothing was started; retry in \d+ s/);
      expect((error as AppError).headers).toEqual({ 'retry-after': '5' });
      expect(temporal.startRun).toHaveBeenCalledTimes(1);
      expect(started.size).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
