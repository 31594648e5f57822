import { afterAll, beforeAll, expect, it } from 'vitest';
import { sampleValue } from '../helpers/prometheus.js';
import { startWorkerProcess } from '../helpers/worker-process.js';

/**
 * EMAIL_MAX_PER_SECOND=0 turns the provider rate limit off, and with it the worker takes its email sends as eager
 * activities on a server that allows them (the dev server does, src/temporal/dev-server.ts): the workflow task that
 * schedules a send gets it back in its answer. What an operator sees is the SDK's own counter of activity tasks
 * received, labelled eager="true"; worker-metrics.test.ts checks the other side (a limit set: none eager).
 */
let stack: Awaited<ReturnType<typeof startWorkerProcess>>;

beforeAll(async () => {
  stack = await startWorkerProcess({ EMAIL_MAX_PER_SECOND: '0' });
});

afterAll(async () => {
  await stack?.close();
});

it('sends each email as an eager activity when the provider rate limit is off', async () => {
  const { authorization } = await stack.signUp();
  const workflow = await stack.createWorkflow(authorization, {
    name: 'Eager sends',
    steps: [
      { id: 'first', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'One', text: '1' } },
      { id: 'second', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Two', text: '2' } },
    ],
  });
  const runId = await stack.deliver(workflow.webhook.token, { email: 'ada@example.com' });
  const run = await stack.runToEnd(authorization, runId);
  expect(run.status).toBe('completed');
  expect(run.steps.map((step) => `${step.id}: ${step.status} (${step.attempts})`)).toEqual([
    'first: completed (1)',
    'second: completed (1)',
  ]);
  expect(stack.resend.emails.map((email) => email.subject)).toEqual(['One', 'Two']);

  const samples = await stack.scrape();
  const received = (eager: string) =>
    sampleValue(samples, 'temporal_activity_task_received_total', { activity_type: 'sendEmail', eager });
  expect(received('true')).toBe(2);
  expect(received('false')).toBe(0);
});
