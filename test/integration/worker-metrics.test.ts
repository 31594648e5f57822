import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { sampleValue } from '../helpers/prometheus.js';
import { startWorkerProcess } from '../helpers/worker-process.js';

/**
 * A worker process as `npm run start:worker` runs it (the production entrypoint, configured by its environment
 * only) serves its metrics endpoint: the Temporal SDK's own series and Hookflow's step outcomes, after a run whose
 * email step succeeds, whose http step succeeds on its second attempt, and whose last step fails for good.
 */
let target: HttpTarget;
let stack: Awaited<ReturnType<typeof startWorkerProcess>>;

beforeAll(async () => {
  target = await startHttpTarget();
  stack = await startWorkerProcess({ HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8' });
});

afterAll(async () => {
  await stack?.close();
  await target?.close();
});

it('serves the Temporal SDK metrics and step outcomes by type', async () => {
  expect(stack.worker.output()).toContain(`worker metrics on ${stack.metricsUrl}`);
  const { authorization } = await stack.signUp();
  const workflow = await stack.createWorkflow(authorization, {
    name: 'Worker metrics',
    steps: [
      { id: 'welcome', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Hi', text: 'Hi' } },
      {
        id: 'flaky',
        type: 'http',
        params: { method: 'POST', url: `${target.url}/flaky`, body: { n: 1 } },
        retry: { maxAttempts: 3, initialInterval: '1s' },
      },
      {
        id: 'gone',
        type: 'http',
        onFailure: 'continue',
        params: { method: 'GET', url: `${target.url}/gone` },
      },
    ],
  });
  // flaky: 503 then 200; gone: 404, which is not retried.
  target.answerNext({ status: 503 }, { status: 200, body: { ok: true } }, { status: 404, body: 'gone' });

  const runId = await stack.deliver(workflow.webhook.token, { email: 'ada@example.com' });
  const run = await stack.runToEnd(authorization, runId);
  expect(run.steps.map((step) => `${step.id}: ${step.status}`)).toEqual([
    'welcome: completed',
    'flaky: completed',
    'gone: failed',
  ]);

  const samples = await stack.scrape();
  const steps = (labels: Record<string, string>) =>
    sampleValue(samples, 'hookflow_step_attempts_total', labels);
  // Labelled like the SDK's series (task_queue, activity_type), so the two join: email on the main queue.
  expect(
    steps({
      step_type: 'email',
      outcome: 'succeeded',
      task_queue: stack.taskQueue,
      activity_type: 'sendEmail',
    }),
  ).toBe(1);
  expect(steps({ step_type: 'http', outcome: 'retried', error_type: 'HttpRetryableStatus' })).toBe(1);
  expect(steps({ step_type: 'http', outcome: 'succeeded' })).toBe(1);
  expect(steps({ step_type: 'http', outcome: 'failed', error_type: 'HttpStatus' })).toBe(1);
  expect(steps({ outcome: 'failed', step_type: 'email' })).toBe(0);

  // The SDK's own series, in seconds and with _total counters: what an operator graphs and alerts on.
  const names = new Set(samples.map((sample) => sample.name));
  for (const name of [
    'temporal_activity_schedule_to_start_latency_seconds_count',
    'temporal_workflow_task_schedule_to_start_latency_seconds_count',
    'temporal_activity_execution_failed_total',
    'temporal_worker_task_slots_available',
    'temporal_sticky_cache_size',
  ]) {
    expect(names, name).toContain(name);
  }
  expect(
    sampleValue(samples, 'temporal_activity_schedule_to_start_latency_seconds_count'),
  ).toBeGreaterThanOrEqual(4);
  // With the provider rate limit set, every send goes through the task queue that enforces it: none eager
  // (eager-activity.test.ts has the limit off).
  const received = (eager: string) =>
    sampleValue(samples, 'temporal_activity_task_received_total', { activity_type: 'sendEmail', eager });
  expect(received('false')).toBe(1);
  expect(received('true')).toBe(0);
});
