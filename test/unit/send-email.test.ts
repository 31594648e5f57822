import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import type { EmailTransport, OutgoingEmail, TransportResult } from '../../src/activities/email-transport.js';
import {
  createSendEmail,
  EMAIL_ERROR_TYPES,
  type EmailQuota,
  type SendEmailInput,
} from '../../src/activities/send-email.js';
import { noEmailQuota } from '../helpers/stack.js';

/** The mock environment logs every failed activity at WARN; only errors belong in the test report. */
const quiet = { logger: new DefaultLogger('ERROR') };

/** A transport that answers what the test says and remembers what it was asked to send. */
function scriptedTransport(result: TransportResult) {
  const sent: { email: OutgoingEmail & { from: string }; idempotencyKey: string }[] = [];
  const transport: EmailTransport = {
    name: 'resend',
    send(email, idempotencyKey) {
      sent.push({ email, idempotencyKey });
      return Promise.resolve(result);
    },
  };
  return { transport, sent };
}

/** EMAIL_ALLOWED_FROM_DOMAINS of these tests. */
const allowedFromDomains = ['example.com'];

const input: SendEmailInput = {
  idempotencyKey: 'run_1/welcome',
  email: { to: ['ada@example.com'], subject: 'Welcome', text: 'Hi' },
};

async function runSendEmail(result: TransportResult, attempt = 1) {
  const { transport, sent } = scriptedTransport(result);
  const sendEmail = createSendEmail({
    transport,
    defaultFrom: 'Hookflow <hookflow@example.com>',
    allowedFromDomains,
    quota: noEmailQuota,
  });
  const env = new MockActivityEnvironment({ attempt }, quiet);
  const outcome = await env.run(sendEmail, input).then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  return { outcome, sent };
}

/** The ApplicationFailure the activity threw; fails the test when it returned instead. */
async function failureOf(result: TransportResult, attempt = 1): Promise<ApplicationFailure> {
  const { outcome } = await runSendEmail(result, attempt);
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ApplicationFailure);
  return outcome.error as ApplicationFailure;
}

describe('sendEmail activity', () => {
  it('returns the provider id, the transport and the attempt on success, with the default from', async () => {
    const { outcome, sent } = await runSendEmail({ ok: true, id: 'em_123' }, 2);
    expect(outcome).toEqual({
      ok: true,
      value: { providerId: 'em_123', transport: 'resend', to: ['ada@example.com'], attempt: 2 },
    });
    expect(sent).toEqual([
      {
        idempotencyKey: 'run_1/welcome',
        email: { ...input.email, from: 'Hookflow <hookflow@example.com>' },
      },
    ]);
  });

  it('keeps the step’s own from', async () => {
    const { transport, sent } = scriptedTransport({ ok: true, id: 'em_1' });
    const sendEmail = createSendEmail({
      transport,
      defaultFrom: 'Default <default@example.com>',
      allowedFromDomains,
      quota: noEmailQuota,
    });
    await new MockActivityEnvironment({}, quiet).run(sendEmail, {
      ...input,
      email: { ...input.email, from: 'Team <team@example.com>' },
    });
    expect(sent[0]?.email.from).toBe('Team <team@example.com>');
  });

  it('fails for good on a 422: EmailRejected, non-retryable, saying what the provider said', async () => {
    const failure = await failureOf({
      ok: false,
      statusCode: 422,
      name: 'validation_error',
      message: 'Invalid `to` field.',
    });
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.rejected);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('422 validation_error');
    expect(failure.message).toContain('Invalid `to` field.');
    expect(failure.details).toEqual([{ attempt: 1, statusCode: 422, providerError: 'validation_error' }]);
  });

  it('retries slowly, and says to fix the key, when the provider refuses the API key (401, 403 invalid_api_key)', async () => {
    const refusals: TransportResult[] = [
      {
        ok: false,
        statusCode: 401,
        name: 'missing_api_key',
        message: 'Missing API key in the authorization header.',
      },
      { ok: false, statusCode: 403, name: 'invalid_api_key', message: 'API key is invalid.' },
    ];
    for (const refusal of refusals) {
      const first = await failureOf(refusal, 1);
      expect(first.type).toBe(EMAIL_ERROR_TYPES.providerAuth);
      expect(first.nonRetryable).toBe(false);
      expect(first.nextRetryDelay).toBe(60_000);
      expect(first.message).toContain('fix RESEND_API_KEY');
      // The wait doubles per attempt, capped at 15 minutes.
      expect((await failureOf(refusal, 3)).nextRetryDelay).toBe(240_000);
      expect((await failureOf(refusal, 8)).nextRetryDelay).toBe(15 * 60_000);
    }
  });

  it('still fails for good on a 403 that is about the email, not the key', async () => {
    const failure = await failureOf({
      ok: false,
      statusCode: 403,
      name: 'validation_error',
      message: 'You can only send testing emails to your own email address.',
    });
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.rejected);
    expect(failure.nonRetryable).toBe(true);
  });

  it('retries a 409 concurrent_idempotent_requests: the earlier attempt is still in flight at the provider', async () => {
    const failure = await failureOf({
      ok: false,
      statusCode: 409,
      name: 'concurrent_idempotent_requests',
      message: 'Same idempotency key used while original request is still in progress.',
    });
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.unavailable);
    expect(failure.nonRetryable).toBeFalsy();
  });

  it('fails for good on a 409 invalid_idempotent_request (same key, another body)', async () => {
    const failure = await failureOf({
      ok: false,
      statusCode: 409,
      name: 'invalid_idempotent_request',
      message: 'Same idempotency key used with a different request payload.',
    });
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.rejected);
    expect(failure.nonRetryable).toBe(true);
  });

  it('aborts the request when the activity is cancelled (worker shutdown) and fails retryably at once', async () => {
    let signalSeen: AbortSignal | undefined;
    const transport: EmailTransport = {
      name: 'resend',
      // Like the Resend SDK: an aborted request answers a network error.
      send: (_email, _key, signal) =>
        new Promise((resolve) => {
          signalSeen = signal;
          signal?.addEventListener('abort', () =>
            resolve({
              ok: false,
              statusCode: null,
              name: 'application_error',
              message: 'Unable to fetch data.',
            }),
          );
        }),
    };
    const sendEmail = createSendEmail({
      transport,
      defaultFrom: 'Hookflow <hookflow@example.com>',
      allowedFromDomains,
      quota: noEmailQuota,
    });
    const env = new MockActivityEnvironment({ attempt: 2 }, quiet);
    const running = env.run(sendEmail, input).then(
      () => undefined,
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    env.cancel('WORKER_SHUTDOWN');
    const failure = await running;
    expect(signalSeen?.aborted).toBe(true);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(EMAIL_ERROR_TYPES.interrupted);
    expect((failure as ApplicationFailure).nonRetryable).toBeFalsy();
    expect((failure as ApplicationFailure).message).toContain('WORKER_SHUTDOWN');
    expect((failure as ApplicationFailure).details).toEqual([
      { attempt: 2, statusCode: null, providerError: null },
    ]);
  });

  it('retries a 500 with the step’s backoff: EmailProviderUnavailable, retryable, no fixed delay', async () => {
    const failure = await failureOf(
      { ok: false, statusCode: 500, name: 'internal_server_error', message: 'An unexpected error occurred.' },
      3,
    );
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.unavailable);
    expect(failure.nonRetryable).toBeFalsy();
    expect(failure.nextRetryDelay).toBeUndefined();
    expect(failure.details).toEqual([
      { attempt: 3, statusCode: 500, providerError: 'internal_server_error' },
    ]);
  });

  it('retries a 429 after the provider’s retry-after (3 s → 3000 ms)', async () => {
    const failure = await failureOf({
      ok: false,
      statusCode: 429,
      name: 'rate_limit_exceeded',
      message: 'Too many requests.',
      retryAfterSeconds: 3,
    });
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.rateLimited);
    expect(failure.nonRetryable).toBeFalsy();
    expect(failure.nextRetryDelay).toBe(3000);
  });

  it('retries a 429 without retry-after with the step’s backoff', async () => {
    const failure = await failureOf({
      ok: false,
      statusCode: 429,
      name: 'rate_limit_exceeded',
      message: 'Too many requests.',
    });
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.rateLimited);
    expect(failure.nonRetryable).toBeFalsy();
    expect(failure.nextRetryDelay).toBeUndefined();
  });

  it('retries a network error (no status code)', async () => {
    const failure = await failureOf({
      ok: false,
      statusCode: null,
      name: 'application_error',
      message: 'Unable to fetch data. The request could not be resolved.',
    });
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.unavailable);
    expect(failure.nonRetryable).toBeFalsy();
    expect(failure.message).toContain('nothing (network error)');
  });
});

describe('sendEmail activity: quotas and long retry-after', () => {
  it('fails for good on a used-up daily or monthly quota (429): EmailQuotaExceeded', async () => {
    for (const name of ['daily_quota_exceeded', 'monthly_quota_exceeded']) {
      const failure = await failureOf({
        ok: false,
        statusCode: 429,
        name,
        message: 'You have reached your sending quota.',
        retryAfterSeconds: 60,
      });
      expect(failure.type).toBe(EMAIL_ERROR_TYPES.quotaExceeded);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.nextRetryDelay).toBeUndefined();
      expect(failure.message).toContain(`429 ${name}`);
      expect(failure.details).toEqual([{ attempt: 1, statusCode: 429, providerError: name }]);
    }
  });

  it('honours a 429 retry-after within 15 minutes and falls back to the step’s backoff above it', async () => {
    const fifteenMinutes = 15 * 60;
    const rateLimited = (retryAfterSeconds: number): TransportResult => ({
      ok: false,
      statusCode: 429,
      name: 'rate_limit_exceeded',
      message: 'Too many requests.',
      retryAfterSeconds,
    });
    const within = await failureOf(rateLimited(fifteenMinutes));
    expect(within.type).toBe(EMAIL_ERROR_TYPES.rateLimited);
    expect(within.nonRetryable).toBeFalsy();
    expect(within.nextRetryDelay).toBe(fifteenMinutes * 1000);

    for (const seconds of [fifteenMinutes + 1, 24 * 60 * 60]) {
      const above = await failureOf(rateLimited(seconds));
      expect(above.type).toBe(EMAIL_ERROR_TYPES.rateLimited);
      expect(above.nonRetryable).toBeFalsy();
      expect(above.nextRetryDelay).toBeUndefined();
    }
  });
});

describe('sendEmail activity: allowed sender domains', () => {
  async function sendFrom(from: string, allowed = allowedFromDomains) {
    const { transport, sent } = scriptedTransport({ ok: true, id: 'em_1' });
    const sendEmail = createSendEmail({
      transport,
      defaultFrom: 'Hookflow <hookflow@example.com>',
      allowedFromDomains: allowed,
      quota: noEmailQuota,
    });
    const outcome = await new MockActivityEnvironment({}, quiet)
      .run(sendEmail, { ...input, email: { ...input.email, from } })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    return { outcome, sent };
  }

  it('refuses a from outside the allowed domains before sending: EmailSenderNotAllowed, non-retryable', async () => {
    for (const from of [
      'CEO <ceo@bank.example>',
      'ceo@bank.example',
      // A subdomain is a domain of its own, and a look-alike suffix is not the domain.
      'news@mail.example.com',
      'x@evil-example.com',
      // A second address hidden in the display name: not one sender.
      'ceo@bank.example, Team <team@example.com>',
    ]) {
      const { outcome, sent } = await sendFrom(from);
      expect(sent, from).toEqual([]);
      expect(outcome, from).toBeInstanceOf(ApplicationFailure);
      const failure = outcome as ApplicationFailure;
      expect(failure.type).toBe(EMAIL_ERROR_TYPES.senderNotAllowed);
      expect(failure.type).toBe('EmailSenderNotAllowed');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toContain('allowed sender domains: example.com');
    }
  });

  it('sends from any allowed domain, whatever the case of its letters', async () => {
    for (const from of ['Team <team@EXAMPLE.com>', 'hi@news.example.org', '"Acme, Inc." <hi@example.com>']) {
      const { outcome, sent } = await sendFrom(from, ['example.com', 'news.example.org']);
      expect(outcome, from).toBeUndefined();
      expect(sent).toHaveLength(1);
    }
  });

  it('names the domain and the allowed ones in the failure', async () => {
    const { outcome } = await sendFrom('CEO <ceo@bank.example>', ['example.com', 'example.org']);
    expect((outcome as ApplicationFailure).message).toBe(
      'from: "CEO <ceo@bank.example>" sends from bank.example, which this Hookflow does not send from; ' +
        'allowed sender domains: example.com, example.org (EMAIL_ALLOWED_FROM_DOMAINS)',
    );
  });
});

describe('sendEmail and the account quota (EMAIL_DAILY_QUOTA)', () => {
  /** A quota of `limit` recipients that remembers every charge. */
  function countingQuota(limit: number) {
    const charges: { ownerId: string; recipients: number }[] = [];
    const used = new Map<string, number>();
    const quota: EmailQuota = {
      limit,
      charge(ownerId, recipients) {
        charges.push({ ownerId, recipients });
        const total = (used.get(ownerId) ?? 0) + recipients;
        used.set(ownerId, total);
        const allowed = total <= limit;
        return Promise.resolve({ allowed, retryAfterSeconds: allowed ? 0 : 5 * 3600 + 61, remaining: 0 });
      },
    };
    return { quota, charges };
  }

  const owned: SendEmailInput = {
    idempotencyKey: 'run_2/team',
    ownerId: 'owner-1',
    email: {
      to: ['a@example.com', 'b@example.com'],
      cc: ['c@example.com'],
      bcc: ['d@example.com'],
      subject: 'Hi',
      text: '.',
    },
  };

  async function send(quota: EmailQuota, sendInput: SendEmailInput, attempt = 1) {
    const { transport, sent } = scriptedTransport({ ok: true, id: 'em_q' });
    const sendEmail = createSendEmail({
      transport,
      defaultFrom: 'Hookflow <hookflow@example.com>',
      allowedFromDomains,
      quota,
    });
    const outcome = await new MockActivityEnvironment({ attempt }, quiet).run(sendEmail, sendInput).then(
      () => undefined,
      (error: unknown) => error,
    );
    return { outcome, sent };
  }

  it('charges every recipient (to, cc and bcc) to the run owner, once per send: retries are not charged again', async () => {
    const { quota, charges } = countingQuota(100);
    expect((await send(quota, owned, 1)).sent).toHaveLength(1);
    expect((await send(quota, owned, 2)).sent).toHaveLength(1);
    expect(charges).toEqual([{ ownerId: 'owner-1', recipients: 4 }]);
  });

  it('refuses a send past the quota for good, sending nothing and saying when it renews', async () => {
    const { quota } = countingQuota(5);
    expect((await send(quota, owned)).sent).toHaveLength(1);
    const { outcome, sent } = await send(quota, owned);
    expect(sent).toHaveLength(0);
    expect(outcome).toBeInstanceOf(ApplicationFailure);
    const failure = outcome as ApplicationFailure;
    expect(failure.type).toBe(EMAIL_ERROR_TYPES.accountQuotaExceeded);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      "this account's email quota is used up (5 recipients a day, EMAIL_DAILY_QUOTA): nothing was sent to these 4; " +
        'it renews in 5 h 2 min, then retry the run',
    );
  });

  it('does not charge sends scheduled before the quota existed (no owner in their input)', async () => {
    const { quota, charges } = countingQuota(0);
    const { outcome, sent } = await send(quota, input);
    expect(outcome).toBeUndefined();
    expect(sent).toHaveLength(1);
    expect(charges).toEqual([]);
  });
});
