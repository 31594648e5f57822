import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRunService, START_BUDGET_MS } from '../../src/api/services/run-service.js';
import type { WorkflowRecord } from '../../src/db/repos/workflow-repo.js';
import { stepsSchema } from '../../src/dsl/schema.js';
import { AppError } from '../../src/errors.js';
import { createStartGate } from '../../src/limits/start-gate.js';
import type { TemporalAdapter } from '../../src/temporal/adapter.js';
import type { TriggerInput } from '../../src/workflows/types.js';

afterEach(() => {
  vi.useRealTimers();
});

const far = () => Date.now() + 60_000;

describe('the start gate', () => {
  it('lets `limit` starts through at once and the others in arrival order, each as one ends', async () => {
    const gate = createStartGate(2);
    const order: string[] = [];
    const first = (await gate.enter(far()))!;
    const second = (await gate.enter(far()))!;
    const third = gate.enter(far()).then((leave) => (order.push('third'), leave!));
    const fourth = gate.enter(far()).then((leave) => (order.push('fourth'), leave!));
    expect([gate.inFlight, gate.waiting]).toEqual([2, 2]);

    second();
    second(); // a second call of the same release changes nothing
    (await third)();
    first();
    (await fourth)();
    expect(order).toEqual(['third', 'fourth']);
    expect([gate.inFlight, gate.waiting]).toEqual([0, 0]);
  });

  it('gives up on a start whose turn did not come in time, and the queue goes on without it', async () => {
    vi.useFakeTimers();
    const gate = createStartGate(1);
    const leave = (await gate.enter(far()))!;
    const late = gate.enter(Date.now() + 1_000);
    const patient = gate.enter(far());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await late).toBeUndefined();
    expect(gate.waiting).toBe(1);
    leave();
    expect(await patient).toBeTypeOf('function');
  });

  it('with a limit of 0 lets everything through', async () => {
    const gate = createStartGate(0);
    const entered = await Promise.all(Array.from({ length: 50 }, () => gate.enter(Date.now())));
    expect(entered.every((leave) => typeof leave === 'function')).toBe(true);
  });
});

describe('run starts through the gate', () => {
  const workflow = {
    id: randomUUID(),
    ownerId: randomUUID(),
    name: 'Gated',
    version: 1,
    steps: stepsSchema.parse([{ id: 'wait', type: 'delay', params: { duration: '1h' } }]),
  } as WorkflowRecord;
  const trigger: TriggerInput = {
    type: 'webhook',
    receivedAt: new Date().toISOString(),
    body: {},
    query: {},
    headers: {},
  };

  /** A run service whose Temporal answers each start only when the test says so. */
  function setup(limit: number) {
    const answers: (() => void)[] = [];
    const startRun = vi.fn<TemporalAdapter['startRun']>(
      () => new Promise((resolve) => answers.push(() => resolve({ duplicate: false }))),
    );
    const unused = () => Promise.reject(new Error('not used by starts'));
    const runs = createRunService({
      temporal: {
        startRun,
        describeRun: unused,
        runProgress: unused,
        listRuns: unused,
        cancelRun: unused,
        runStartInput: unused,
      },
      workflows: { findOwned: () => Promise.resolve(workflow) },
      startGate: createStartGate(limit),
      config: {
        temporal: { namespace: 'hookflow-tests', uiUrl: 'http://temporal-ui.test' },
        http: { publicUrl: 'http://hookflow.test' },
      },
    });
    return { runs, startRun, answers };
  }

  it('sends a second concurrent start to Temporal only once the first is answered', async () => {
    const { runs, startRun, answers } = setup(1);
    const first = runs.startRun(workflow, trigger);
    const second = runs.startRun(workflow, trigger);
    await vi.waitFor(() => expect(startRun).toHaveBeenCalledTimes(1));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(startRun).toHaveBeenCalledTimes(1);

    answers[0]!();
    await first;
    await vi.waitFor(() => expect(startRun).toHaveBeenCalledTimes(2));
    answers[1]!();
    expect((await second).duplicate).toBe(false);
  });

  it('answers 503 OVER_CAPACITY with Retry-After, starting nothing, when no turn comes within half the budget', async () => {
    vi.useFakeTimers();
    const { runs, startRun } = setup(1);
    void runs.startRun(workflow, trigger); // never answered: holds the only turn
    const refused = runs.startRun(workflow, trigger).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(START_BUDGET_MS / 2);
    const error = await refused;
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'OVER_CAPACITY', statusCode: 503 });
    expect((error as AppError).message).toMatch(/Nothing was started; retry in \d+ s/);
    expect((error as AppError).headers).toEqual({ 'retry-after': '5' });
    expect(startRun).toHaveBeenCalledTimes(1);
  });
});
