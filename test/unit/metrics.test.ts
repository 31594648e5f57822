import { createServer } from 'node:net';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { createStartGate } from '../../src/limits/start-gate.js';
import { createApiMetrics, webhookOutcome } from '../../src/metrics/api-metrics.js';
import { stepAttemptOutcome, workerMetricsAddress } from '../../src/metrics/worker-metrics.js';
import { installWorkerRuntime } from '../../src/temporal/worker.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';

describe('webhook outcomes', () => {
  it.each([
    [202, { outcome: 'accepted' }],
    [200, { outcome: 'duplicate' }],
    [503, { outcome: 'unavailable' }],
    [500, { outcome: 'error' }],
    [400, { outcome: 'rejected', reason: 'bad_request' }],
    [401, { outcome: 'rejected', reason: 'invalid_signature' }],
    [404, { outcome: 'rejected', reason: 'unknown_token' }],
    [409, { outcome: 'rejected', reason: 'workflow_disabled' }],
    [413, { outcome: 'rejected', reason: 'too_large' }],
    [429, { outcome: 'rejected', reason: 'rate_limited' }],
    [418, { outcome: 'rejected', reason: 'other' }],
  ])('an answer %i is %o', (status, outcome) => {
    expect(webhookOutcome(status)).toEqual(outcome);
  });
});

describe('the start gate', () => {
  it('exposes the starts in flight to Temporal and the starts waiting for a turn', async () => {
    const metrics = createApiMetrics();
    const gate = createStartGate(1);
    metrics.watchStartGate(gate);
    const leave = await gate.enter(Date.now() + 60_000);
    const waiting = gate.enter(Date.now() + 60_000);
    let samples = parsePrometheus(await metrics.render());
    expect(sampleValue(samples, 'hookflow_run_starts_in_flight')).toBe(1);
    expect(sampleValue(samples, 'hookflow_run_starts_waiting')).toBe(1);

    leave!();
    (await waiting)!();
    samples = parsePrometheus(await metrics.render());
    expect(sampleValue(samples, 'hookflow_run_starts_in_flight')).toBe(0);
    expect(sampleValue(samples, 'hookflow_run_starts_waiting')).toBe(0);
  });
});

describe('Temporal start latency', () => {
  it('is recorded by outcome: started, duplicate, unavailable (the 503 path), error', async () => {
    const metrics = createApiMetrics();
    const answers: (() => Promise<{ duplicate: boolean }>)[] = [
      () => Promise.resolve({ duplicate: false }),
      () => Promise.resolve({ duplicate: true }),
      () => Promise.reject(new UnavailableError('Temporal did not acknowledge the start.')),
      () => Promise.reject(new Error('bug')),
    ];
    const start = metrics.timeRunStarts((n: number) => answers[n]!());
    await start(0);
    await start(1);
    await expect(start(2)).rejects.toBeInstanceOf(UnavailableError);
    await expect(start(3)).rejects.toThrow('bug');
    const samples = parsePrometheus(await metrics.render());
    for (const outcome of ['started', 'duplicate', 'unavailable', 'error']) {
      expect(
        sampleValue(samples, 'hookflow_workflow_start_duration_seconds_count', { outcome }),
        outcome,
      ).toBe(1);
    }
  });
});

describe('step attempt outcomes', () => {
  const policy = { maximumAttempts: 3, nonRetryableErrorTypes: ['EmailRejected'] };

  it('is retried while the retry policy has attempts left', () => {
    const failure = ApplicationFailure.create({ type: 'EmailProviderUnavailable', message: '503' });
    expect(stepAttemptOutcome(failure, { attempt: 1, retryPolicy: policy })).toBe('retried');
    expect(stepAttemptOutcome(new Error('socket hang up'), { attempt: 2, retryPolicy: policy })).toBe(
      'retried',
    );
  });

  it('is failed on the last attempt, for a non-retryable failure, or a type the policy does not retry', () => {
    const failure = ApplicationFailure.create({ type: 'EmailProviderUnavailable', message: '503' });
    expect(stepAttemptOutcome(failure, { attempt: 3, retryPolicy: policy })).toBe('failed');
    const permanent = ApplicationFailure.create({ type: 'HttpStatus', message: '404', nonRetryable: true });
    expect(stepAttemptOutcome(permanent, { attempt: 1, retryPolicy: policy })).toBe('failed');
    const listed = ApplicationFailure.create({ type: 'EmailRejected', message: '422' });
    expect(stepAttemptOutcome(listed, { attempt: 1, retryPolicy: policy })).toBe('failed');
  });

  it('is retried forever when the policy has no attempt limit, and cancelled when the run was', () => {
    const failure = ApplicationFailure.create({ type: 'HttpNetworkError', message: 'reset' });
    expect(stepAttemptOutcome(failure, { attempt: 50, retryPolicy: { maximumAttempts: 0 } })).toBe('retried');
    expect(stepAttemptOutcome(new CancelledFailure('cancelled'), { attempt: 1, retryPolicy: policy })).toBe(
      'cancelled',
    );
  });
});

describe('worker metrics address', () => {
  it('brackets an IPv6 host', () => {
    expect(workerMetricsAddress({ worker: { host: '127.0.0.1', port: 9464 } })).toBe('127.0.0.1:9464');
    expect(workerMetricsAddress({ worker: { host: '::', port: 9464 } })).toBe('[::]:9464');
  });
});

describe('a worker whose metrics port is taken', () => {
  it('runs without metrics and says why, instead of failing to start', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as { port: number };
    try {
      const status = installWorkerRuntime({
        logLevel: 'error',
        metrics: { enabled: true, worker: { host: '127.0.0.1', port } },
      });
      expect(status).toMatchObject({ state: 'unavailable', address: `127.0.0.1:${port}` });
      expect(status.state === 'unavailable' && status.reason).toMatch(/in use/i);
      // The Runtime (the workers' logger) is installed all the same, and a later call reports the same state.
      expect(() => Runtime.install({})).toThrow(/already been installed/);
      expect(installWorkerRuntime({ logLevel: 'error' })).toBe(status);
    } finally {
      holder.close();
    }
  });
});
