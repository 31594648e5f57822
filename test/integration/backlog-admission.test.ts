import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { eventually, startInlineWorker, startStack, type Stack } from '../helpers/stack.js';

/*
 * WEBHOOK_MAX_BACKLOG_SECONDS (issue 12): once runs have waited longer than that for a worker, webhooks are refused
 * with 503 + Retry-After instead of joining an ever-growing queue; once a worker drains the backlog they are accepted
 * again, and every delivery accepted before is run, once. The backlog is read from Temporal's own task-queue stats;
 * here no worker polls at first, so the runs' first tasks wait.
 */

let stack: Stack;
let stopWorker: (() => Promise<void>) | undefined;

beforeAll(async () => {
  stack = await startStack({ worker: 'none', env: { WEBHOOK_MAX_BACKLOG_SECONDS: '10' } });
});
afterAll(async () => {
  await stopWorker?.();
  await stack?.close();
});

it('refuses webhooks with 503 + Retry-After while runs wait past the bound, then accepts them again', async () => {
  const { authorization } = await stack.signUp();
  const { webhook } = await stack.createWorkflow(authorization, {
    name: 'Backlog',
    steps: [
      { id: 'notify', type: 'email', params: { to: '{{trigger.body.email}}', subject: 'Hi', text: 'x' } },
    ],
  });
  let sequence = 0;
  const accepted: string[] = [];
  const hit = async () => {
    const answer = await stack.app.inject({
      method: 'POST',
      url: `/hooks/${webhook.token}`,
      payload: { email: `u${sequence++}@example.com` },
    });
    if (answer.statusCode === 202) accepted.push(answer.json<{ runId: string }>().runId);
    return answer;
  };

  // With no worker, the first runs' tasks wait; a delivery is refused once they have waited more than 10 s.
  const first = await hit();
  expect(first.statusCode, first.body).toBe(202);
  const refused = await eventually(hit, (answer) => answer.statusCode !== 202, 60_000);
  expect(refused.statusCode, refused.body).toBe(503);
  expect(refused.json()).toMatchObject({ error: { code: 'OVER_CAPACITY' } });
  expect(refused.json<{ error: { message: string } }>().error.message).toMatch(
    /^Over capacity: runs accepted earlier have waited \d+ s for a worker \(WEBHOOK_MAX_BACKLOG_SECONDS\)\. Nothing was started; retry in \d+ s\.$/,
  );
  const retryAfter = Number(refused.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(5);
  expect(retryAfter).toBeLessThanOrEqual(60);

  // A worker drains the backlog: deliveries are accepted again.
  stopWorker = await startInlineWorker(stack.config, inject('temporalAddress'), stack.db);
  const again = await eventually(hit, (answer) => answer.statusCode !== 503, 60_000);
  expect(again.statusCode, again.body).toBe(202);

  // Every accepted delivery ran, with one email each; the refused ones started nothing.
  for (const runId of accepted) expect((await stack.runToEnd(authorization, runId)).status).toBe('completed');
  const emailedRuns = stack.resend.requests.map((request) => request.idempotencyKey?.split('/')[0]);
  expect(emailedRuns.sort()).toEqual([...accepted].sort());
}, 180_000);
