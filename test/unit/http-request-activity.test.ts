import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import {
  createHttpRequestActivity,
  HTTP_ERROR_TYPES,
  type HttpRequestResult,
} from '../../src/activities/http-request.js';
import {
  BlockedDestinationError,
  HttpNetworkError,
  HttpRedirectError,
  HttpTimeoutError,
  InvalidHttpRequestError,
  type HttpRequest,
  type HttpResponse,
} from '../../src/activities/http/safe-request.js';
import type { HttpParams } from '../../src/dsl/http-step.js';
import type { ResolvedSecrets } from '../../src/secrets/resolver.js';
import { renderHttpRequest, type HttpRequestInput } from '../../src/workflows/http-request.js';
import type { RenderContext } from '../../src/workflows/template.js';

/*
 * The httpRequest activity (DESIGN §7): secrets substituted at send time and kept out of its output and errors,
 * answers classified for Temporal's retries. The requester and the secret store are ten-line fakes.
 */

/** The mock environment logs every failed activity at WARN; only errors belong in the test report. */
const quiet = { logger: new DefaultLogger('ERROR') };

/** Values with characters that every encoding changes: space, quotes, slash, plus, backslash. */
const SECRETS: Record<string, string> = {
  CRM_TOKEN: 'sk_live_9f8e7d6c5b4a3210',
  ODD: 'p@ss w/"q"+\\x',
  ACCOUNT: 'acct 42/eu',
  WEBHOOK_URL: 'https://hooks.example.com/services/T01/B02/xyzSECRETpath',
  NOT_A_URL: 'hooks example com',
  FTP_URL: 'ftp://files.example.com/in',
  CRLF: 'value\r\nX-Injected: 1',
};

const context: RenderContext = {
  trigger: {
    body: {
      email: 'ada@example.com',
      items: [{ sku: 'A-1' }],
      base: 'https://bad host',
      ftp: 'ftp://x.example',
    },
    query: {},
    headers: {},
  },
  steps: {},
  run: { id: 'run_123' },
  workflow: { name: 'Sync' },
};

/** The activity's input for these params, rendered the way the workflow renders it. */
function inputFor(params: Partial<HttpParams>): HttpRequestInput {
  return renderHttpRequest(
    { method: 'POST', url: 'https://api.example.com/v1/contacts', ...params },
    context,
    { ownerId: 'user_1', stepId: 'crm', idempotencyKey: 'run_123/crm' },
  );
}

const ok = (overrides: Partial<HttpResponse> = {}): HttpResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: { ok: true },
  truncated: false,
  url: 'https://api.example.com/v1/contacts',
  ...overrides,
});

type Answer = HttpResponse | Error | ((request: HttpRequest) => HttpResponse | Promise<HttpResponse>);

/** Runs the activity against a requester that answers `answer` and a store holding `secrets`. */
async function run(
  input: HttpRequestInput,
  answer: Answer,
  options: { attempt?: number; secrets?: Record<string, string> } = {},
) {
  const stored = options.secrets ?? SECRETS;
  const requests: HttpRequest[] = [];
  const resolved: { ownerId: string; names: string[] }[] = [];
  const httpRequest = createHttpRequestActivity({
    requester: {
      request: (request) => {
        requests.push(request);
        if (answer instanceof Error) return Promise.reject(answer);
        return Promise.resolve(typeof answer === 'function' ? answer(request) : answer);
      },
    },
    secrets: {
      resolveSecrets: (ownerId, names): Promise<ResolvedSecrets> => {
        resolved.push({ ownerId, names: [...names] });
        const values = new Map(
          names.filter((name) => name in stored).map((name) => [name, stored[name] ?? '']),
        );
        return Promise.resolve({ values, missing: names.filter((name) => !(name in stored)) });
      },
    },
  });
  const env = new MockActivityEnvironment({ attempt: options.attempt ?? 1 }, quiet);
  const running = env.run<[HttpRequestInput], HttpRequestResult, typeof httpRequest>(httpRequest, input);
  const outcome = await running.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  return { outcome, requests, resolved };
}

async function resultOf(input: HttpRequestInput, answer: Answer, attempt = 1): Promise<HttpRequestResult> {
  const { outcome } = await run(input, answer, { attempt });
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** The request the activity sent for `input`. */
async function sentFor(input: HttpRequestInput): Promise<HttpRequest> {
  const { outcome, requests } = await run(input, ok());
  expect(outcome.ok).toBe(true);
  expect(requests).toHaveLength(1);
  return requests[0]!;
}

/** The ApplicationFailure the activity threw; fails the test when it returned instead. */
async function failureOf(input: HttpRequestInput, answer: Answer, attempt = 1): Promise<ApplicationFailure> {
  const { outcome } = await run(input, answer, { attempt });
  if (outcome.ok) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).toBeInstanceOf(ApplicationFailure);
  return outcome.error as ApplicationFailure;
}

/** Every form a secret value could take in text: as is, URL-encoded, form-encoded and JSON-escaped. */
function formsOf(value: string): string[] {
  return [
    value,
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    JSON.stringify(value).slice(1, -1),
  ];
}

function expectNoSecretIn(text: string, names: string[] = Object.keys(SECRETS)) {
  for (const name of names) {
    for (const form of formsOf(SECRETS[name]!)) expect(text).not.toContain(form);
  }
}

describe('httpRequest activity: the request it sends', () => {
  it('sends the rendered request with the step’s method, timeout and redirect choice', async () => {
    const input = inputFor({ method: 'PUT', timeout: '5s', followRedirects: true, body: { a: 1 } });
    const sent = await sentFor(input);
    expect(sent).toMatchObject({
      method: 'PUT',
      url: 'https://api.example.com/v1/contacts',
      timeoutMs: input.timeoutMs,
      followRedirects: true,
    });
    expect(sent.headers).toEqual({ 'Idempotency-Key': 'run_123/crm', 'Content-Type': 'application/json' });
    expect(sent.signal).toBeInstanceOf(AbortSignal);
  });

  it('sends no body when the step has none', async () => {
    const sent = await sentFor(inputFor({ method: 'GET' }));
    expect(sent.body).toBeUndefined();
    expect(sent.headers).toEqual({});
  });

  it('URL-encodes a secret inside the url', async () => {
    const sent = await sentFor(
      inputFor({ url: 'https://api.example.com/accounts/{{secrets.ACCOUNT}}/contacts' }),
    );
    expect(sent.url).toBe(
      `https://api.example.com/accounts/${encodeURIComponent(SECRETS.ACCOUNT!)}/contacts`,
    );
    expect(decodeURIComponent(new URL(sent.url).pathname)).toBe(`/accounts/${SECRETS.ACCOUNT}/contacts`);
  });

  it('uses a secret that is the whole url as the url', async () => {
    const sent = await sentFor(inputFor({ url: '{{secrets.WEBHOOK_URL}}' }));
    expect(sent.url).toBe(new URL(SECRETS.WEBHOOK_URL!).href);
  });

  it('appends query parameters, secrets included, to the url’s own', async () => {
    const sent = await sentFor(
      inputFor({
        url: 'https://api.example.com/v1/contacts?fixed=1',
        query: { key: '{{secrets.ODD}}', email: '{{trigger.body.email}}', fixed: 'two' },
      }),
    );
    const url = new URL(sent.url);
    expect(url.pathname).toBe('/v1/contacts');
    expect(url.searchParams.getAll('key')).toEqual([SECRETS.ODD]);
    expect(url.searchParams.getAll('email')).toEqual(['ada@example.com']);
    expect(url.searchParams.getAll('fixed')).toEqual(['1', 'two']);
  });

  it('puts secrets into headers as they are', async () => {
    const sent = await sentFor(
      inputFor({ headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}', 'x-odd': '{{secrets.ODD}}' } }),
    );
    expect(sent.headers).toMatchObject({
      authorization: `Bearer ${SECRETS.CRM_TOKEN}`,
      'x-odd': SECRETS.ODD,
    });
  });

  it('puts secrets into a JSON body as JSON strings, nested ones included, next to typed values', async () => {
    const sent = await sentFor(
      inputFor({
        body: {
          token: '{{secrets.ODD}}',
          note: 'key={{secrets.CRM_TOKEN}};',
          nested: { list: [{ deep: '{{secrets.ODD}}' }, 3] },
          items: '{{trigger.body.items}}',
        },
      }),
    );
    expect(typeof sent.body).toBe('string');
    expect(JSON.parse(sent.body as string)).toEqual({
      token: SECRETS.ODD,
      note: `key=${SECRETS.CRM_TOKEN};`,
      nested: { list: [{ deep: SECRETS.ODD }, 3] },
      items: [{ sku: 'A-1' }],
    });
  });

  it('puts secrets into a text body as they are', async () => {
    const sent = await sentFor(inputFor({ body: 'token={{secrets.ODD}}&email={{trigger.body.email}}' }));
    expect(sent.body).toBe(`token=${SECRETS.ODD}&email=ada@example.com`);
    expect(sent.headers).toMatchObject({ 'Content-Type': 'text/plain; charset=utf-8' });
  });

  it('asks the store once for each secret, for the run’s owner', async () => {
    const { resolved } = await run(
      inputFor({
        url: 'https://api.example.com/{{secrets.ACCOUNT}}',
        headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
        query: { key: '{{secrets.CRM_TOKEN}}' },
        body: { a: '{{secrets.ODD}}', b: ['{{secrets.ACCOUNT}}'] },
      }),
      ok(),
    );
    expect(resolved).toHaveLength(1);
    expect(resolved[0]?.ownerId).toBe('user_1');
    expect([...(resolved[0]?.names ?? [])].sort()).toEqual(['ACCOUNT', 'CRM_TOKEN', 'ODD']);
  });
});

describe('httpRequest activity: secrets that cannot be used', () => {
  it('fails for good on a missing secret, naming it, without sending anything', async () => {
    const { outcome, requests } = await run(
      inputFor({ headers: { authorization: 'Bearer {{secrets.NOPE}}' } }),
      ok(),
      { attempt: 2 },
    );
    expect(requests).toEqual([]);
    expect(outcome.ok).toBe(false);
    const failure = (outcome as { error: unknown }).error as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(HTTP_ERROR_TYPES.missingSecret);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('NOPE');
    expect(failure.details).toEqual([{ attempt: 2 }]);
  });

  it('names every missing secret', async () => {
    const failure = await failureOf(
      inputFor({
        headers: { a: '{{secrets.FIRST}}', b: '{{secrets.CRM_TOKEN}}' },
        body: { c: '{{secrets.SECOND}}' },
      }),
      ok(),
    );
    expect(failure.type).toBe(HTTP_ERROR_TYPES.missingSecret);
    expect(failure.message).toContain('FIRST');
    expect(failure.message).toContain('SECOND');
    expect(failure.message).not.toMatch(/CRM_TOKEN/);
  });

  it('refuses a secret with CR/LF in a header, naming secret and header but not the value', async () => {
    const { outcome, requests } = await run(
      inputFor({ headers: { 'x-api-key': 'k {{secrets.CRLF}}' } }),
      ok(),
    );
    expect(requests).toEqual([]);
    const failure = (outcome as { error: unknown }).error as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(HTTP_ERROR_TYPES.invalidSecret);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('CRLF');
    expect(failure.message).toContain('x-api-key');
    expectNoSecretIn(failure.message, ['CRLF']);
  });

  it('lets a secret with CR/LF go into a body, where line breaks are data', async () => {
    const sent = await sentFor(inputFor({ body: { v: '{{secrets.CRLF}}' } }));
    expect(JSON.parse(sent.body as string)).toEqual({ v: SECRETS.CRLF });
  });
});

describe('httpRequest activity: secrets never leave it', () => {
  /** A request using every secret in every place, so any echo carries them. */
  const everywhere = () =>
    inputFor({
      url: 'https://api.example.com/echo/{{secrets.ACCOUNT}}',
      headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
      query: { key: '{{secrets.ODD}}', account: '{{secrets.ACCOUNT}}' },
      body: { token: '{{secrets.ODD}}', note: 'key={{secrets.CRM_TOKEN}};' },
    });
  const used = ['ACCOUNT', 'CRM_TOKEN', 'ODD'];

  it('redacts an echo of the request from response headers and a text body, in every encoding', async () => {
    const result = await resultOf(everywhere(), (request) =>
      ok({
        headers: {
          'content-type': 'text/plain',
          'x-echo-auth': request.headers?.authorization ?? '',
          'x-echo-url': request.url,
        },
        // The raw body (JSON-escaped secrets), the url as sent (URL- and form-encoded secrets), the raw values.
        body: `${String(request.body)}\n${request.url}\n${used.map((name) => SECRETS[name]).join('\n')}`,
      }),
    );
    const output = JSON.stringify(result.output);
    expectNoSecretIn(output, used);
    expect(result.output.headers['x-echo-auth']).toBe('Bearer {{secrets.CRM_TOKEN}}');
    expect(output).toContain('{{secrets.ODD}}');
    expect(output).toContain('{{secrets.ACCOUNT}}');
  });

  it('redacts secrets from a parsed JSON body, nested values and keys included', async () => {
    const result = await resultOf(everywhere(), (request) =>
      ok({
        body: {
          echoed: JSON.parse(request.body as string) as unknown,
          list: [SECRETS.ODD, { [SECRETS.CRM_TOKEN!]: `url ${encodeURIComponent(SECRETS.ACCOUNT!)}` }],
          n: 1,
          nothing: null,
        },
      }),
    );
    expectNoSecretIn(JSON.stringify(result.output), used);
    expect(result.output.body).toEqual({
      echoed: { token: '{{secrets.ODD}}', note: 'key={{secrets.CRM_TOKEN}};' },
      list: ['{{secrets.ODD}}', { '{{secrets.CRM_TOKEN}}': 'url {{secrets.ACCOUNT}}' }],
      n: 1,
      nothing: null,
    });
  });

  it('returns the response as the output, with the attempt', async () => {
    const response = ok({ status: 201, headers: { 'x-id': '7' }, body: 'created', truncated: true });
    const result = await resultOf(inputFor({}), response, 3);
    expect(result).toEqual({
      output: { status: 201, headers: { 'x-id': '7' }, body: 'created', truncated: true },
      attempt: 3,
    });
  });

  it('redacts secrets from a failed answer’s message', async () => {
    const failure = await failureOf(everywhere(), (request) =>
      ok({ status: 500, headers: {}, body: `internal error for ${String(request.headers?.authorization)}` }),
    );
    expect(failure.message).toContain('{{secrets.CRM_TOKEN}}');
    expectNoSecretIn(failure.message, used);
  });

  it('keeps a secret in the url path out of a failed answer’s message', async () => {
    const input = inputFor({ url: 'https://api.example.com/bot{{secrets.CRM_TOKEN}}/send/{{secrets.ODD}}' });
    for (const status of [404, 503]) {
      const failure = await failureOf(input, ok({ status, body: 'nope' }));
      expect(failure.message).toContain(
        `POST https://api.example.com/bot{{secrets.CRM_TOKEN}}/send/{{secrets.ODD}} answered ${status}`,
      );
      expectNoSecretIn(failure.message, ['CRM_TOKEN', 'ODD']);
    }
  });

  it('leaves the query out of a failed answer’s message, with or without a secret in the url', async () => {
    for (const url of [
      'https://api.example.com/v1/{{secrets.ACCOUNT}}?page={{trigger.body.email}}#top',
      'https://api.example.com/v1/x?page={{trigger.body.email}}#top',
    ]) {
      const failure = await failureOf(inputFor({ url }), ok({ status: 404, body: 'nope' }));
      expect(failure.message).toMatch(/^POST https:\/\/api\.example\.com\/v1\/\S+ answered 404: nope$/);
      expect(failure.message).not.toContain('page=');
    }
  });

  it('keeps a whole-url secret out of a failed answer’s message', async () => {
    const failure = await failureOf(
      inputFor({ url: '{{secrets.WEBHOOK_URL}}' }),
      ok({ status: 410, body: '' }),
    );
    expect(failure.message).toContain('POST {{secrets.WEBHOOK_URL}} answered 410');
    expect(failure.message).not.toContain(new URL(SECRETS.WEBHOOK_URL!).pathname);
    expectNoSecretIn(failure.message, ['WEBHOOK_URL']);
  });

  it('redacts secrets from the requester’s error messages', async () => {
    const failure = await failureOf(
      everywhere(),
      new HttpNetworkError(
        `connection reset while sending ${SECRETS.CRM_TOKEN} and ${encodeURIComponent(SECRETS.ODD!)}`,
        'ECONNRESET',
      ),
    );
    expect(failure.type).toBe(HTTP_ERROR_TYPES.network);
    expect(failure.message).toContain('{{secrets.CRM_TOKEN}}');
    expect(failure.message).toContain('{{secrets.ODD}}');
    expectNoSecretIn(failure.message, used);
  });
});

describe('httpRequest activity: classification of answers', () => {
  it('completes on every 2xx', async () => {
    for (const status of [200, 201, 202, 204, 299]) {
      const result = await resultOf(inputFor({}), ok({ status }));
      expect(result.output.status).toBe(status);
    }
  });

  it('fails for good on other 4xx, naming method, url, status and the start of the body', async () => {
    for (const status of [400, 401, 403, 404, 409, 410, 422]) {
      const failure = await failureOf(
        inputFor({ url: 'https://api.example.com/v1/contacts?key=1' }),
        ok({ status, headers: {}, body: 'no such contact' }),
        2,
      );
      expect(failure.type).toBe(HTTP_ERROR_TYPES.status);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toContain('POST https://api.example.com/v1/contacts');
      expect(failure.message).toContain(`answered ${status}: no such contact`);
      expect(failure.details).toEqual([{ attempt: 2 }]);
    }
  });

  it('quotes a JSON body as JSON', async () => {
    const body = { error: 'no such contact' };
    const failure = await failureOf(inputFor({}), ok({ status: 404, body }));
    expect(failure.message).toContain(`answered 404: ${JSON.stringify(body)}`);
  });

  it('quotes nothing of an empty body', async () => {
    const failure = await failureOf(inputFor({}), ok({ status: 404, body: '' }));
    expect(failure.message).toMatch(/answered 404$/);
  });

  it('cuts the quoted body at 300 characters', async () => {
    const body = `${'a'.repeat(300)}${'b'.repeat(500)}`;
    const failure = await failureOf(inputFor({}), ok({ status: 404, body }));
    expect(failure.message).toContain(`answered 404: ${'a'.repeat(300)}`);
    expect(failure.message).not.toContain('b');
    const exact = await failureOf(inputFor({}), ok({ status: 404, body: 'c'.repeat(300) }));
    expect(exact.message).toMatch(new RegExp(`answered 404: c{300}$`));
  });

  it('fails for good on a 3xx, saying how to follow it', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const failure = await failureOf(
        inputFor({}),
        ok({ status, headers: { location: '/elsewhere' }, body: '' }),
      );
      expect(failure.type).toBe(HTTP_ERROR_TYPES.status);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toContain(`answered ${status}`);
      expect(failure.message).toContain('followRedirects: true');
    }
  });

  it('does not suggest followRedirects when the step already follows redirects', async () => {
    // The requester returns a 3xx it does not follow (no Location, or 300/304) as the answer.
    const failure = await failureOf(
      inputFor({ followRedirects: true }),
      ok({ status: 300, headers: {}, body: '' }),
    );
    expect(failure.type).toBe(HTTP_ERROR_TYPES.status);
    expect(failure.message).toContain('answered 300');
    expect(failure.message).not.toContain('followRedirects');
  });

  it('retries 408, 425, 429 and 5xx with the step’s backoff when there is no Retry-After', async () => {
    for (const status of [408, 425, 429, 500, 502, 503, 504, 599]) {
      const failure = await failureOf(inputFor({}), ok({ status, headers: {}, body: 'busy' }), 4);
      expect(failure.type).toBe(HTTP_ERROR_TYPES.retryableStatus);
      expect(failure.nonRetryable).toBe(false);
      expect(failure.nextRetryDelay).toBeUndefined();
      expect(failure.message).toContain(`answered ${status}: busy`);
      expect(failure.details).toEqual([{ attempt: 4 }]);
    }
  });

  it('retries after Retry-After seconds up to 15 minutes', async () => {
    for (const [header, ms] of [
      ['7', 7_000],
      ['900', 15 * 60_000],
    ] as const) {
      const failure = await failureOf(inputFor({}), ok({ status: 503, headers: { 'retry-after': header } }));
      expect(failure.type).toBe(HTTP_ERROR_TYPES.retryableStatus);
      expect(failure.nextRetryDelay).toBe(ms);
    }
  });

  it('retries at once (never a zero delay) on Retry-After: 0', async () => {
    const failure = await failureOf(inputFor({}), ok({ status: 429, headers: { 'retry-after': '0' } }));
    expect(failure.nextRetryDelay).toBeGreaterThan(0);
    expect(failure.nextRetryDelay).toBeLessThanOrEqual(1_000);
  });

  it('honours a Retry-After HTTP date within 15 minutes', async () => {
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    const failure = await failureOf(
      inputFor({}),
      ok({ status: 429, headers: { 'retry-after': inTwoMinutes } }),
    );
    expect(failure.nextRetryDelay).toBeGreaterThan(0);
    expect(failure.nextRetryDelay).toBeLessThanOrEqual(120_000);
  });

  it('falls back to the step’s backoff for a Retry-After above 15 minutes or a malformed one', async () => {
    for (const header of ['901', '86400', 'soon', '-5']) {
      const failure = await failureOf(inputFor({}), ok({ status: 503, headers: { 'retry-after': header } }));
      expect(failure.type).toBe(HTTP_ERROR_TYPES.retryableStatus);
      expect(failure.nonRetryable).toBe(false);
      expect(failure.nextRetryDelay).toBeUndefined();
    }
  });
});

describe('httpRequest activity: requester errors', () => {
  const cases: [string, Error, string, boolean][] = [
    ['blocked', new BlockedDestinationError('10.0.0.7', 'private'), HTTP_ERROR_TYPES.blocked, false],
    ['timeout', new HttpTimeoutError('no complete response within 10000 ms'), HTTP_ERROR_TYPES.timeout, true],
    ['network', new HttpNetworkError('connection refused', 'ECONNREFUSED'), HTTP_ERROR_TYPES.network, true],
    [
      'invalid',
      new InvalidHttpRequestError('the x header has an invalid value'),
      HTTP_ERROR_TYPES.invalid,
      false,
    ],
    ['redirect', new HttpRedirectError('more than 5 redirects'), HTTP_ERROR_TYPES.redirect, false],
  ];

  for (const [name, error, type, retryable] of cases) {
    it(`maps a ${name} error to ${type} (${retryable ? 'retried' : 'not retried'}), keeping its message`, async () => {
      const failure = await failureOf(inputFor({}), error, 3);
      expect(failure.type).toBe(type);
      expect(failure.nonRetryable).toBe(!retryable);
      expect(failure.message).toBe(error.message);
      expect(failure.details).toEqual([{ attempt: 3 }]);
    });
  }

  it('lets an unexpected error through as it is', async () => {
    const { outcome } = await run(inputFor({}), new TypeError('a bug'));
    expect(outcome.ok).toBe(false);
    expect((outcome as { error: unknown }).error).toBeInstanceOf(TypeError);
  });

  it('fails retryably when cancelled while the request is in flight', async () => {
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => (started = resolve));
    const httpRequest = createHttpRequestActivity({
      requester: {
        request: (request) =>
          new Promise((_resolve, reject) => {
            request.signal?.addEventListener('abort', () => reject(new Error('aborted')));
            started();
          }),
      },
      secrets: { resolveSecrets: () => Promise.resolve({ values: new Map(), missing: [] }) },
    });
    const env = new MockActivityEnvironment({ attempt: 2 }, quiet);
    const running = env.run(httpRequest, inputFor({})).then(
      () => undefined,
      (error: unknown) => error,
    );
    await inFlight;
    env.cancel('WORKER_SHUTDOWN');
    const failure = await running;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(HTTP_ERROR_TYPES.interrupted);
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
    expect((failure as ApplicationFailure).message).toContain('WORKER_SHUTDOWN');
  });
});

describe('httpRequest activity: invalid final urls', () => {
  it('fails for good on a url that does not parse, showing the placeholder instead of the value', async () => {
    const { outcome, requests } = await run(inputFor({ url: '{{secrets.NOT_A_URL}}' }), ok());
    expect(requests).toEqual([]);
    const failure = (outcome as { error: unknown }).error as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe(HTTP_ERROR_TYPES.invalid);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('{{secrets.NOT_A_URL}}');
    expectNoSecretIn(failure.message, ['NOT_A_URL']);
  });

  it('shows the rendered url with secret placeholders when its literal part is invalid', async () => {
    const failure = await failureOf(inputFor({ url: 'https://bad host/{{secrets.CRM_TOKEN}}' }), ok());
    expect(failure.type).toBe(HTTP_ERROR_TYPES.invalid);
    expect(failure.message).toContain('https://bad host/{{secrets.CRM_TOKEN}}');
    expectNoSecretIn(failure.message, ['CRM_TOKEN']);
  });

  it('refuses a url from data or a secret that is not http(s)', async () => {
    for (const url of ['{{trigger.body.ftp}}', '{{secrets.FTP_URL}}']) {
      const { outcome, requests } = await run(inputFor({ url }), ok());
      expect(requests).toEqual([]);
      const failure = (outcome as { error: unknown }).error as ApplicationFailure;
      expect(failure.type).toBe(HTTP_ERROR_TYPES.invalid);
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toMatch(/http:\/\/ or https:\/\//);
      expectNoSecretIn(failure.message, ['FTP_URL']);
    }
  });

  it('refuses a url whose value from data was encoded into a component', async () => {
    // "{{trigger.body.base}}/x" encodes the value (it is not the whole url), so it cannot form a url.
    const failure = await failureOf(inputFor({ url: '{{trigger.body.base}}/x' }), ok());
    expect(failure.type).toBe(HTTP_ERROR_TYPES.invalid);
  });
});
