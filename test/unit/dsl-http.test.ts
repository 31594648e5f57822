import { describe, expect, it } from 'vitest';
import { formatIssues, type FormattedIssue } from '../../src/api/format-issues.js';
import { MAX_HTTP_TIMEOUT_MS } from '../../src/dsl/http-step.js';
import { HTTP_METHODS } from '../../src/workflows/http-request.js';
import { stepsSchema, workflowDefinitionSchema } from '../../src/dsl/schema.js';
import { parseDuration } from '../../src/workflows/durations.js';
import { DEFAULT_HTTP_RETRY, retryTotalBudgetMs } from '../../src/workflows/retry.js';

/*
 * The DSL 1.1 additions (DESIGN §7): the `http` step's params, `onFailure`, `steps.<id>.status` and
 * `{{secrets.NAME}}`, validated on save with messages that name the step and the field.
 */

/** The steps of the DESIGN §7 example, verbatim. */
const designSteps = [
  {
    id: 'crm',
    type: 'http',
    onFailure: 'continue',
    params: {
      method: 'POST',
      url: 'https://crm.example.com/v1/contacts',
      headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
      query: { source: 'hookflow' },
      body: { email: '{{trigger.body.email}}', plan: '{{trigger.body.plan}}' },
      timeout: '10s',
    },
  },
  {
    id: 'thanks',
    type: 'email',
    when: { path: 'steps.crm.output.status', op: 'eq', value: 201 },
    params: {
      to: '{{trigger.body.email}}',
      subject: "You're in",
      text: 'CRM id {{steps.crm.output.body.id}}',
    },
  },
];

const httpStep = (id: string, params: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'http',
  params: { method: 'POST', url: 'https://api.example.com/v1/things', ...params },
  ...extra,
});

const emailStep = (
  id: string,
  params: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) => ({
  id,
  type: 'email',
  params: { to: '{{trigger.body.email}}', subject: 'Hello', text: 'Hi', ...params },
  ...extra,
});

function withSteps(...steps: unknown[]) {
  return { name: 'Test', steps };
}

function accepts(...steps: unknown[]): boolean {
  const result = workflowDefinitionSchema.safeParse(withSteps(...steps));
  if (!result.success) {
    // Shows what was refused when the expectation fails.
    expect(formatIssues(result.error, withSteps(...steps))).toEqual([]);
  }
  return result.success;
}

/** Validates a definition that must fail and returns its issues as the API shows them. */
function issuesOf(...steps: unknown[]): FormattedIssue[] {
  const definition = withSteps(...steps);
  const result = workflowDefinitionSchema.safeParse(definition);
  expect(result.success).toBe(false);
  return result.success ? [] : formatIssues(result.error, definition);
}

/** The issues of one http step (id "call") with these params merged over a valid POST. */
const paramIssues = (params: Record<string, unknown>) => issuesOf(httpStep('call', params));

const at = (field: string) => `steps[0] (id "call").params${field === '' ? '' : `.${field}`}`;

const SECRETS_ONLY_IN_HTTP = "secrets can only be used in an http step's url, headers, query and body";

describe('http step: the DESIGN §7 example', () => {
  it('validates verbatim and round-trips unchanged', () => {
    const parsed = stepsSchema.parse(designSteps);
    expect(parsed).toEqual(designSteps);
    expect(stepsSchema.parse(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
  });

  it('validates as a workflow definition', () => {
    // The example's `"schedule": null` is left out: schedules (DESIGN §7, last bullet) are not implemented yet.
    const definition = { name: 'Sync signup to CRM', steps: designSteps };
    expect(workflowDefinitionSchema.parse(definition).steps).toEqual(designSteps);
  });
});

describe('http params', () => {
  it('accepts every method of the design', () => {
    expect(HTTP_METHODS).toEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
    for (const method of HTTP_METHODS) {
      expect(accepts(httpStep('call', { method, body: undefined }))).toBe(true);
    }
  });

  it('refuses another method or a lower-case one, listing the allowed ones', () => {
    for (const method of ['OPTIONS', 'get', 'CONNECT']) {
      expect(paramIssues({ method })).toEqual([
        { path: at('method'), message: 'method must be one of: GET, HEAD, POST, PUT, PATCH, DELETE' },
      ]);
    }
  });

  it('requires method and url', () => {
    const issues = issuesOf({ id: 'call', type: 'http', params: {} });
    expect(issues).toEqual([
      { path: at('method'), message: '"method" is required' },
      { path: at('url'), message: '"url" is required' },
    ]);
  });

  it('refuses a url whose literal start is not http:// or https://', () => {
    for (const url of [
      'ftp://files.example.com/x',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'api.example.com/v1',
      '//api.example.com/{{trigger.body.path}}',
      ' https://api.example.com',
    ]) {
      expect(paramIssues({ url })).toEqual([
        { path: at('url'), message: 'url must start with http:// or https://' },
      ]);
    }
  });

  it('accepts http and https urls in any letter case, with templates after the scheme', () => {
    for (const url of [
      'http://api.example.com',
      'HTTPS://api.example.com/v1',
      'https://api.example.com/v1/contacts/{{trigger.body.id}}?x=1',
      'https://{{trigger.body.tenant}}.example.com/v1',
    ]) {
      expect(accepts(httpStep('call', { url }))).toBe(true);
    }
  });

  it('refuses a literal url that does not parse, quoting it', () => {
    for (const url of ['https://', 'https://exa mple.com/x', 'http://[::1/x']) {
      expect(paramIssues({ url })).toEqual([
        { path: at('url'), message: `${JSON.stringify(url)} is not a valid URL` },
      ]);
    }
  });

  it('accepts a url that starts with a placeholder: it is checked when the step runs', () => {
    for (const url of [
      '{{trigger.body.callbackUrl}}',
      '{{trigger.body.base}}/v1/contacts',
      '{{secrets.WEBHOOK_URL}}',
      '{{steps.first.output.body.next}}',
    ]) {
      expect(accepts(emailStep('first'), httpStep('call', { url }))).toBe(true);
    }
  });

  it('reports template errors in the url', () => {
    expect(paramIssues({ url: 'https://api.example.com/{{trigger.body.id' })).toEqual([
      { path: at('url'), message: 'invalid template: unclosed "{{" at character 25' },
    ]);
  });

  it('accepts headers and query parameters of string templates', () => {
    const step = httpStep('call', {
      headers: { 'X-Request-Id': '{{run.id}}', Accept: 'application/json', "x-odd!#$%&'*+.^_`|~": 'ok' },
      query: { source: 'hookflow', email: '{{trigger.body.email}}' },
    });
    expect(accepts(step)).toBe(true);
  });

  it('refuses invalid header names, naming the header', () => {
    const issues = paramIssues({
      headers: { 'X Bad': 'a', 'x-ok': 'b', 'x:colon': 'c', é: 'd', '': 'e' },
    });
    expect(issues).toEqual([
      { path: at('headers.X Bad'), message: '"X Bad" is not a valid header name' },
      { path: at('headers.x:colon'), message: '"x:colon" is not a valid header name' },
      { path: at('headers.é'), message: '"é" is not a valid header name' },
      { path: at('headers.'), message: '"" is not a valid header name' },
    ]);
  });

  it('refuses a header value typed with CR or LF, naming the header', () => {
    for (const value of ['a\r\nX-Injected: 1', 'a\nb', 'a\rb']) {
      expect(paramIssues({ headers: { 'x-note': value } })).toEqual([
        {
          path: at('headers.x-note'),
          message: 'must not contain a line break (CR/LF): it is an HTTP header',
        },
      ]);
    }
  });

  it('refuses a header value typed with any other control character or U+2028/U+2029 (issue 11)', () => {
    const cases: [string, string][] = [
      ['\t', 'a control character (U+0009)'],
      ['\u0000', 'a control character (U+0000)'],
      ['\u001f', 'a control character (U+001F)'],
      ['\u0085', 'a control character (U+0085)'],
      ['\u2028', 'a line separator (U+2028)'],
      ['\u2029', 'a paragraph separator (U+2029)'],
    ];
    for (const [char, described] of cases) {
      expect(paramIssues({ headers: { 'x-note': `a${char}b` } })).toEqual([
        { path: at('headers.x-note'), message: `must not contain ${described}: it is an HTTP header` },
      ]);
    }
  });

  it('refuses the headers the HTTP client sets itself, in any letter case', () => {
    for (const name of [
      'host',
      'Host',
      'content-length',
      'Content-Length',
      'transfer-encoding',
      'connection',
      'upgrade',
      'TE',
      'keep-alive',
      'Expect',
      'trailer',
      'proxy-connection',
    ]) {
      expect(paramIssues({ headers: { [name]: 'x' } })).toEqual([
        {
          path: at(`headers.${name}`),
          message: `the ${name} header is set by Hookflow from the request itself; leave it out`,
        },
      ]);
    }
  });

  it('refuses a header given twice in different letter case', () => {
    expect(paramIssues({ headers: { 'X-Api-Key': 'a', 'x-api-key': 'b' } })).toEqual([
      {
        path: at('headers.x-api-key'),
        message: 'header "x-api-key" is given twice (header names are case-insensitive)',
      },
    ]);
  });

  it('lets a step set content-type, idempotency-key and authorization itself', () => {
    const headers = {
      'Content-Type': 'application/vnd.api+json',
      'Idempotency-Key': 'k',
      Authorization: 'x',
    };
    expect(accepts(httpStep('call', { headers }))).toBe(true);
  });

  it('refuses non-string header and query values and non-object headers and query', () => {
    expect(paramIssues({ headers: { 'x-n': 5 } }).map((issue) => issue.path)).toEqual([at('headers.x-n')]);
    expect(paramIssues({ query: { n: true } }).map((issue) => issue.path)).toEqual([at('query.n')]);
    expect(paramIssues({ headers: 'x-a: 1' })).toEqual([
      { path: at('headers'), message: 'headers must be an object of header names to string values' },
    ]);
    expect(paramIssues({ query: ['a=1'] })).toEqual([
      { path: at('query'), message: 'query must be an object of parameter names to string values' },
    ]);
  });

  it('caps headers and query parameters at 50 each', () => {
    const fields = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-f${i}`, 'v']));
    expect(accepts(httpStep('call', { headers: fields(50), query: fields(50) }))).toBe(true);
    expect(paramIssues({ headers: fields(51) })).toEqual([
      { path: at('headers'), message: 'at most 50 headers are allowed' },
    ]);
    expect(paramIssues({ query: fields(51) })).toEqual([
      { path: at('query'), message: 'at most 50 query parameters are allowed' },
    ]);
  });

  it('accepts a string body and a JSON object body of any shape', () => {
    expect(accepts(httpStep('call', { body: 'plain {{trigger.body.name}}' }))).toBe(true);
    const body = {
      email: '{{trigger.body.email}}',
      items: '{{trigger.body.items}}',
      nested: { list: [1, 'two {{run.id}}', { deep: null, flag: true }] },
      count: 3,
    };
    expect(accepts(httpStep('call', { body }))).toBe(true);
  });

  it('refuses a body that is neither an object nor a string', () => {
    for (const body of [42, true, ['a'], null]) {
      expect(paramIssues({ body })).toEqual([
        { path: at('body'), message: 'body must be a JSON object or a string' },
      ]);
    }
  });

  it('validates the templates nested in a JSON body at their own path', () => {
    const issues = paramIssues({
      body: {
        ok: '{{trigger.body.email}}',
        customer: { name: '{{trigger.body.name', tags: ['fine', '{{body.tag}}'] },
      },
    });
    expect(issues).toEqual([
      { path: at('body.customer.name'), message: 'invalid template: unclosed "{{" at character 1' },
      {
        path: at('body.customer.tags[1]'),
        message: expect.stringMatching(
          /^unknown reference "body.tag": a path starts with trigger.body/,
        ) as string,
      },
    ]);
  });

  it('refuses a body on GET and HEAD', () => {
    for (const method of ['GET', 'HEAD']) {
      for (const body of ['text', { a: 1 }]) {
        expect(paramIssues({ method, body })).toEqual([
          { path: at('body'), message: `a ${method} request has no body` },
        ]);
      }
    }
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect(accepts(httpStep('call', { method, body: { a: 1 } }))).toBe(true);
    }
  });

  it('accepts a timeout above 0 up to 60 s, as a duration or milliseconds', () => {
    expect(MAX_HTTP_TIMEOUT_MS).toBe(parseDuration('60s'));
    for (const timeout of ['1ms', '500ms', '10s', '60s', '1m', 60_000, 1]) {
      expect(accepts(httpStep('call', { timeout }))).toBe(true);
    }
  });

  it('refuses a timeout of 0 or above 60 s', () => {
    for (const timeout of [0, '0s', '61s', 60_001, '2m', '1h', '1d']) {
      expect(paramIssues({ timeout })).toEqual([
        { path: at('timeout'), message: 'timeout must be more than 0 and at most 60s' },
      ]);
    }
  });

  it('refuses a timeout that is not a duration with the duration message', () => {
    const issues = paramIssues({ timeout: 'ten seconds' });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(at('timeout'));
    expect(issues[0]?.message).toMatch(/^duration must look like/);
  });

  it('accepts followRedirects as a boolean only', () => {
    expect(accepts(httpStep('call', { followRedirects: true }))).toBe(true);
    expect(paramIssues({ followRedirects: 'yes' }).map((issue) => issue.path)).toEqual([
      at('followRedirects'),
    ]);
  });

  it('refuses unknown params fields, listing the allowed ones', () => {
    expect(paramIssues({ json: {}, redirect: 'follow' })).toEqual([
      {
        path: at(''),
        message:
          'unknown fields "json", "redirect"; allowed: method, url, headers, query, body, timeout, followRedirects',
      },
    ]);
  });

  it('refuses unknown step fields, listing the allowed ones', () => {
    expect(issuesOf(httpStep('call', {}, { timeout: '5s' }))).toEqual([
      {
        path: 'steps[0] (id "call")',
        message: 'unknown field "timeout"; allowed: id, type, params, when, retry, onFailure',
      },
    ]);
  });
});

describe('http retry', () => {
  it('accepts a retry policy and checks it against the http defaults', () => {
    expect(accepts(httpStep('call', {}, { retry: { maxAttempts: 3 } }))).toBe(true);
    // The http default maxInterval is smaller than the email one: a 2m initialInterval is above it.
    expect(DEFAULT_HTTP_RETRY.maxInterval).toBe('1m');
    expect(issuesOf(httpStep('call', {}, { retry: { initialInterval: '2m' } }))).toEqual([
      {
        path: 'steps[0] (id "call").retry.maxInterval',
        message: 'maxInterval (1m, the default) must be at least initialInterval (2m)',
      },
    ]);
    expect(accepts(httpStep('call', {}, { retry: { initialInterval: '2m', maxInterval: '5m' } }))).toBe(true);
  });

  it('merges a partial policy with the http defaults when budgeting the worst case', () => {
    // 1 + 2 + 4 + 8 seconds between 5 attempts, the http defaults.
    expect(retryTotalBudgetMs({}, DEFAULT_HTTP_RETRY)).toBe(15_000);
    // 99 waits capped at the 1m default: 99 minutes, well inside 23 h.
    expect(accepts(httpStep('call', {}, { retry: { maxAttempts: 100 } }))).toBe(true);
    const issues = issuesOf(httpStep('call', {}, { retry: { maxAttempts: 100, maxInterval: '1h' } }));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps[0] (id "call").retry');
    expect(issues[0]?.message).toMatch(/it must stay within 23 h/);
  });

  it('refuses unknown retry fields', () => {
    expect(issuesOf(httpStep('call', {}, { retry: { jitter: true } }))).toEqual([
      {
        path: 'steps[0] (id "call").retry',
        message:
          'unknown field "jitter"; allowed: maxAttempts, initialInterval, backoffCoefficient, maxInterval',
      },
    ]);
  });
});

describe('onFailure', () => {
  const steps = (onFailure: unknown) => [
    httpStep('call', {}, { onFailure }),
    emailStep('mail', {}, { onFailure }),
    { id: 'wait', type: 'delay', params: { duration: '1m' }, onFailure },
  ];

  it('accepts stop and continue on every step type', () => {
    for (const onFailure of ['stop', 'continue']) {
      const parsed = stepsSchema.parse(steps(onFailure));
      expect(parsed.map((step) => step.onFailure)).toEqual([onFailure, onFailure, onFailure]);
    }
  });

  it('stays optional (a 1.0 definition is still valid)', () => {
    expect(stepsSchema.parse(steps(undefined)).map((step) => step.onFailure)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('refuses anything else on every step type', () => {
    for (const onFailure of ['skip', 'Continue', true, null, 0]) {
      expect(issuesOf(...steps(onFailure))).toEqual([
        { path: 'steps[0] (id "call").onFailure', message: 'onFailure must be "stop" or "continue"' },
        { path: 'steps[1] (id "mail").onFailure', message: 'onFailure must be "stop" or "continue"' },
        { path: 'steps[2] (id "wait").onFailure', message: 'onFailure must be "stop" or "continue"' },
      ]);
    }
  });
});

describe('steps.<id>.status', () => {
  it('is accepted in templates and in when.path for an earlier step', () => {
    const later = emailStep(
      'report',
      { subject: 'CRM sync {{ steps.crm.status }}', text: 'status={{steps.crm.status}}' },
      { when: { path: 'steps.crm.status', op: 'eq', value: 'failed' } },
    );
    expect(accepts(httpStep('crm', {}, { onFailure: 'continue' }), later)).toBe(true);
    const http = httpStep('next', {
      headers: { 'x-previous': '{{steps.crm.status}}' },
      body: { previous: '{{steps.crm.status}}' },
    });
    expect(accepts(httpStep('crm'), http)).toBe(true);
  });

  it('refuses a path below status (it is a plain string)', () => {
    const issues = issuesOf(httpStep('crm'), emailStep('report', { text: '{{steps.crm.status.code}}' }));
    expect(issues).toEqual([
      {
        path: 'steps[1] (id "report").params.text',
        message: expect.stringMatching(/^unknown reference "steps.crm.status.code": /) as string,
      },
    ]);
  });

  it('refuses a status of the step itself or of a later step, in templates and when.path', () => {
    const issues = issuesOf(
      emailStep(
        'first',
        { text: '{{steps.second.status}}' },
        { when: { path: 'steps.first.status', op: 'exists' } },
      ),
      httpStep('second'),
    );
    expect(issues).toEqual([
      {
        path: 'steps[0] (id "first").params.text',
        message:
          'step "first" refers to steps.second.status, but step "second" runs after it; ' +
          "only earlier steps' output is available",
      },
      {
        path: 'steps[0] (id "first").when.path',
        message:
          'step "first" refers to steps.first.status, but a step cannot read its own output; ' +
          "only earlier steps' output is available",
      },
    ]);
  });

  it('reports references to later or missing steps inside nested http headers, query and body at their path', () => {
    const issues = issuesOf(
      httpStep('call', {
        url: 'https://api.example.com/{{steps.ghost.output.id}}',
        headers: { 'x-later': 'v={{steps.later.status}}' },
        query: { q: '{{steps.later.output.q}}' },
        body: { outer: { list: ['ok', { value: '{{steps.later.output.body.id}}' }] } },
      }),
      httpStep('later'),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      at('url'),
      at('headers.x-later'),
      at('query.q'),
      at('body.outer.list[1].value'),
    ]);
    expect(issues[0]?.message).toContain('there is no step "ghost"');
    for (const issue of issues.slice(1)) expect(issue.message).toContain('step "later" runs after it');
  });
});

describe('{{secrets.NAME}}', () => {
  it('is accepted in an http url, headers, query and body, nested JSON included', () => {
    const step = httpStep('call', {
      url: 'https://api.example.com/v1/{{secrets.ACCOUNT_ID}}/things',
      headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}', 'x-key': '{{ secrets.X1 }}' },
      query: { key: '{{secrets.API_KEY}}' },
      body: { auth: { token: '{{secrets.CRM_TOKEN}}', list: ['{{secrets.A}}', 'k={{secrets.B_2}};'] } },
    });
    expect(accepts(step)).toBe(true);
    expect(accepts(httpStep('call', { body: 'token={{secrets.CRM_TOKEN}}' }))).toBe(true);
    expect(accepts(httpStep('call', { url: '{{secrets.WEBHOOK_URL}}' }))).toBe(true);
  });

  it('is refused in every email field, naming the field', () => {
    const fields = {
      to: '{{secrets.TO}}',
      subject: 'Hi {{secrets.S}}',
      html: '<p>{{secrets.H}}</p>',
      text: '{{secrets.T}}',
      from: '{{secrets.F}}',
      replyTo: ['{{secrets.R}}'],
      cc: '{{secrets.C}}',
      bcc: '{{secrets.B}}',
    };
    const issues = issuesOf(emailStep('mail', fields));
    expect(issues.map((issue) => issue.path)).toEqual([
      'steps[0] (id "mail").params.to',
      'steps[0] (id "mail").params.subject',
      'steps[0] (id "mail").params.html',
      'steps[0] (id "mail").params.text',
      'steps[0] (id "mail").params.from',
      'steps[0] (id "mail").params.replyTo[0]',
      'steps[0] (id "mail").params.cc',
      'steps[0] (id "mail").params.bcc',
    ]);
    for (const issue of issues) expect(issue.message).toContain(SECRETS_ONLY_IN_HTTP);
    expect(issues[0]?.message).toBe(`"secrets.TO": ${SECRETS_ONLY_IN_HTTP}`);
  });

  it('is refused in when.path, of an http step too', () => {
    expect(issuesOf(httpStep('call', {}, { when: { path: 'secrets.CRM_TOKEN', op: 'exists' } }))).toEqual([
      { path: 'steps[0] (id "call").when.path', message: `"secrets.CRM_TOKEN": ${SECRETS_ONLY_IN_HTTP}` },
    ]);
  });

  it('refuses invalid secret names and shapes, wherever secrets are allowed', () => {
    for (const reference of [
      'secrets.crm_token',
      'secrets.1TOKEN',
      'secrets._X',
      'secrets.A-B',
      'secrets',
      'secrets.A.B',
      `secrets.A${'B'.repeat(64)}`,
    ]) {
      const issues = paramIssues({ headers: { 'x-key': `{{${reference}}}` } });
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toBe(at('headers.x-key'));
      expect(issues[0]?.message).toMatch(
        new RegExp(
          `^invalid secret reference "${reference.replace(/\./g, '\\.')}": expected \\{\\{secrets\\.NAME\\}\\}`,
        ),
      );
    }
    // The longest valid name: 64 characters.
    expect(accepts(httpStep('call', { headers: { 'x-key': `{{secrets.A${'B'.repeat(63)}}}` } }))).toBe(true);
  });

  it('reports an invalid secret name nested in a JSON body at its path', () => {
    const issues = paramIssues({ body: { auth: [{ token: '{{secrets.lower}}' }] } });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(at('body.auth[0].token'));
    expect(issues[0]?.message).toMatch(/^invalid secret reference "secrets\.lower"/);
  });
});
