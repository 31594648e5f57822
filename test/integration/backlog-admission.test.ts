import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/*
 * WEBHOOK_MAX_BACKLOG_SECONDS (issue 12): past what the workers drain in that long, webhooks are refused with 503 +
 * Retry-After instead of joining an ever-growing queue; once the backlog drains they are accepted again, and every
 * delivery accepted before is run, once. Here the provider's rate limit (EMAIL_MAX_PER_SECOND=1) is what the
 * emails queue behind, read from Temporal's own task-queue stats.
 */

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { EMAIL_MAX_PER_SECOND: '1', WEBHOOK_MAX_BACKLOG_SECONDS: '2' } });
});
afterAll(async () => {
  await stack?.close();
});

it('refuses webhooks with 503 + Retry-After while the backlog exceeds the bound, then accepts them again', async () => {
  const { authorization } = await stack.signUp();
  const created = await stack.app.inject({
    method: 'POST',
    url: '/v1/workflows',
    headers: { authorization },
    payload: {
      name: 'Backlog',
      steps: [
        { id: 'notify', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Hi', text: 'x' } },
      ],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  const { webhook } = created.json<WorkflowResource>();
  const hit = (n: number) =>
    stack.app.inject({
      method: 'POST',
      url: `/hooks/${webhook.token}`,
      payload: { email: `u${n}@example.com` },
    });

  // Deliveries until the backlog (emails at 1/s) is read as more than 2 s of work: a refusal.
  const accepted: string[] = [];
  let refused: Awaited<ReturnType<typeof hit>> | undefined;
  for (let n = 0; n < 60 && !refused; n++) {
    const answer = await hit(n);
    if (answer.statusCode === 503) refused = answer;
    else {
      expect(answer.statusCode, answer.body).toBe(202);
      accepted.push(answer.json<{ runId: string }>().runId);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  expect(refused, 'no delivery was refused').toBeDefined();
  expect(refused!.json()).toMatchObject({ error: { code: 'OVER_CAPACITY' } });
  expect(refused!.json<{ error: { message: string } }>().error.message).toMatch(
    /^Over capacity: the runs already accepted would take about \d+ s to reach a worker \(WEBHOOK_MAX_BACKLOG_SECONDS\)\. Nothing was started; retry in \d+ s\.$/,
  );
  const retryAfter = Number(refused!.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(accepted.length).toBeGreaterThan(2);

  // Once the emails catch up, deliveries are accepted again.
  const again = await eventually(
    () => hit(1000),
    (answer) => answer.statusCode !== 503,
    60_000,
  );
  expect(again.statusCode, again.body).toBe(202);
  accepted.push(again.json<{ runId: string }>().runId);

  // Every accepted delivery ran, with one email each; the refused one started nothing.
  for (const runId of accepted) {
    const run = await eventually(
      async () =>
        (
          await stack.app.inject({ url: `/v1/runs/${runId}`, headers: { authorization } })
        ).json<RunResource>(),
      (resource) => resource.status !== 'running',
      60_000,
    );
    expect(run.status).toBe('completed');
  }
  const runIds = new Set(stack.resend.requests.map((request) => request.idempotencyKey?.split('/')[0]));
  expect(accepted.every((runId) => runIds.has(runId))).toBe(true);
  expect(stack.resend.requests).toHaveLength(accepted.length);
}, 180_000);
