import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import { startStack, type Stack } from '../helpers/stack.js';

/*
 * EMAIL_DAILY_QUOTA (issue 11): each account may send to so many recipients a day, counted in the database across
 * workers, end to end through the API, a real worker and the fake Resend. A run past the quota fails its step with a
 * clear message and sends nothing; another account's emails are not affected.
 */

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { EMAIL_DAILY_QUOTA: '3' } });
});
afterAll(async () => {
  await stack?.close();
});

/** An account with one workflow that emails `to` and copies `cc` (2 recipients a run). */
async function accountWithWorkflow() {
  const { authorization } = await stack.signUp();
  const workflow = await stack.createWorkflow(authorization, {
    name: 'Two recipients',
    steps: [
      {
        id: 'notify',
        type: 'email',
        params: { to: '{{trigger.body.email}}', cc: 'team@example.com', subject: 'Quota', text: 'Hi' },
        retry: { maxAttempts: 2, initialInterval: '100ms' },
      },
    ],
  });

  async function run(email: string): Promise<RunResource> {
    const hit = await stack.app.inject({
      method: 'POST',
      url: `/hooks/${workflow.webhook.token}`,
      payload: { email },
    });
    expect(hit.statusCode, hit.body).toBe(202);
    return stack.runToEnd(authorization, hit.json<{ runId: string }>().runId);
  }
  return { run };
}

const requestsOf = (run: RunResource) =>
  stack.resend.requests.filter((request) => request.idempotencyKey?.startsWith(`${run.id}/`));

it('fails a send past the account’s daily quota, sending nothing, and leaves other accounts alone', async () => {
  const first = await accountWithWorkflow();
  const sent = await first.run('ada@example.com');
  expect(sent.status).toBe('completed');

  // 2 recipients used of 3: the next send (2 more) would pass the quota.
  const refused = await first.run('grace@example.com');
  expect(refused.status).toBe('failed');
  expect(refused.steps[0]).toMatchObject({
    status: 'failed',
    attempts: 1,
    error: { type: 'EmailAccountQuotaExceeded', nonRetryable: true },
  });
  expect(refused.steps[0]?.error?.message).toMatch(
    /^this account's email quota is used up \(3 recipients a day, EMAIL_DAILY_QUOTA\): nothing was sent to these 2; it renews in (23 h 59 min|24 h 0 min), then retry the run$/,
  );
  expect(requestsOf(refused)).toEqual([]);

  const other = await accountWithWorkflow();
  expect((await other.run('linus@example.com')).status).toBe('completed');
});
