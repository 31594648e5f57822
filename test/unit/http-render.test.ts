import { describe, expect, it } from 'vitest';
import type { HttpParams } from '../../src/dsl/http-step.js';
import { parseDuration } from '../../src/workflows/durations.js';
import {
  DEFAULT_HTTP_TIMEOUT_MS,
  renderHttpRequest,
  renderSecretText,
  type HttpRequestInput,
  type JsonBodyNode,
  type SecretText,
} from '../../src/workflows/http-request.js';
import { MAX_RENDERED_LENGTH, TemplateError, type RenderContext } from '../../src/workflows/template.js';

/*
 * Rendering of an http step into the activity's input (DESIGN §7): pure, in workflow code, with
 * `{{secrets.NAME}}` kept as a placeholder for the activity.
 */

function contextWith(body: unknown, steps: RenderContext['steps'] = {}): RenderContext {
  return {
    trigger: { body, query: { ref: 'newsletter' }, headers: { 'user-agent': 'curl/8' } },
    steps,
    run: { id: 'run_123' },
    workflow: { name: 'Sync' },
  };
}

const body = {
  email: 'ada@example.com',
  id: 'a/b c?d#e',
  name: 'Ada Lovelace',
  items: [{ sku: 'A-1', qty: 2 }],
  count: 3,
  vip: false,
  customer: { tier: 'gold' },
  nothing: null,
  multiline: 'one\r\ntwo',
  lf: 'one\ntwo',
  injected: '{{secrets.CRM_TOKEN}}',
  url: 'https://hooks.example.com/a b/c?x=1&y=2',
};
const context = contextWith(body, { crm: { output: { status: 201 }, status: 'completed' } });

const ids = { ownerId: 'user_1', stepId: 'call', idempotencyKey: 'run_123/call' };

function render(params: Partial<HttpParams>): HttpRequestInput {
  return renderHttpRequest({ method: 'POST', url: 'https://api.example.com/v1', ...params }, context, ids);
}

/** The TemplateError `run` throws; fails the test when it throws nothing or something else. */
function templateErrorOf(run: () => unknown): TemplateError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TemplateError);
    return error as TemplateError;
  }
  throw new Error('expected a TemplateError, nothing was thrown');
}

/** A header's rendered value, looked up without regard to case. */
function header(input: HttpRequestInput, name: string): SecretText | undefined {
  return input.headers.find(([given]) => given.toLowerCase() === name.toLowerCase())?.[1];
}

/** No two string pieces follow each other: literal text is merged. */
function expectMerged(text: SecretText) {
  text.forEach((piece, index) => {
    if (index > 0) expect(typeof piece === 'string' && typeof text[index - 1] === 'string').toBe(false);
  });
}

describe('renderSecretText', () => {
  it('keeps {{secrets.NAME}} as a { secret } piece and renders everything else', () => {
    const text = renderSecretText(
      'Bearer {{secrets.CRM_TOKEN}} for {{trigger.body.name}} ({{ secrets.OTHER }})',
      context,
      'header',
      'headers.authorization',
    );
    expect(text).toEqual([
      'Bearer ',
      { secret: 'CRM_TOKEN' },
      ` for ${body.name} (`,
      { secret: 'OTHER' },
      ')',
    ]);
  });

  it('merges adjacent literal pieces, rendered values included', () => {
    const text = renderSecretText(
      '{{run.id}}-{{trigger.body.email}}/{{workflow.name}}{{secrets.A}}{{secrets.B}}x{{trigger.body.count}}',
      context,
      'text',
      'body',
    );
    expectMerged(text);
    expect(text).toEqual([`run_123-${body.email}/Sync`, { secret: 'A' }, { secret: 'B' }, `x${body.count}`]);
  });

  it('renders a template without placeholders as one piece', () => {
    expect(renderSecretText('plain text', context, 'text', 'body')).toEqual(['plain text']);
  });

  it('keeps trigger data that spells {{secrets.X}} a plain string', () => {
    for (const mode of ['text', 'header', 'url'] as const) {
      const text = renderSecretText('{{trigger.body.injected}}', context, mode, 'field');
      expect(text).toEqual([body.injected]);
      expect(text.every((piece) => typeof piece === 'string')).toBe(true);
    }
    const mixed = renderSecretText('x {{trigger.body.injected}} y', context, 'text', 'body');
    expect(mixed).toEqual([`x ${body.injected} y`]);
  });

  it('reads steps.<id>.status and steps.<id>.output', () => {
    expect(
      renderSecretText('{{steps.crm.status}}:{{steps.crm.output.status}}', context, 'text', 'f'),
    ).toEqual(['completed:201']);
  });

  it('URL-encodes values inserted into a url', () => {
    const text = renderSecretText(
      'https://api.example.com/users/{{trigger.body.id}}?name={{trigger.body.name}}',
      context,
      'url',
      'url',
    );
    expect(text).toEqual([
      `https://api.example.com/users/${encodeURIComponent(body.id)}?name=${encodeURIComponent(body.name)}`,
    ]);
  });

  it('leaves a url alone when one placeholder is the whole url', () => {
    expect(renderSecretText('{{trigger.body.url}}', context, 'url', 'url')).toEqual([body.url]);
    expect(renderSecretText('{{ trigger.body.url }}', context, 'url', 'url')).toEqual([body.url]);
  });

  it('encodes a value that starts a url followed by more text (it is a component, not the url)', () => {
    expect(renderSecretText('{{trigger.body.url}}/x', context, 'url', 'url')).toEqual([
      `${encodeURIComponent(body.url)}/x`,
    ]);
  });

  it('does not encode values outside urls', () => {
    for (const mode of ['text', 'header'] as const) {
      expect(renderSecretText('{{trigger.body.id}}', context, mode, 'f')).toEqual([body.id]);
    }
  });

  it('renders a missing value as an empty string', () => {
    expect(
      renderSecretText('a{{trigger.body.missing}}b{{trigger.body.nothing}}c', context, 'header', 'f'),
    ).toEqual(['abc']);
  });

  it('refuses a value with CR or LF in a header, naming the header and the placeholder', () => {
    for (const path of ['trigger.body.multiline', 'trigger.body.lf']) {
      const error = templateErrorOf(() =>
        renderSecretText(`x-{{${path}}}`, context, 'header', 'headers.X-Note'),
      );
      expect(error.field).toBe('headers.X-Note');
      expect(error.message).toMatch(/^headers\.X-Note: /);
      expect(error.message).toContain(`{{${path}}}`);
      expect(error.message).toMatch(/line break/);
    }
  });

  it('refuses a value with any control character or U+2028/U+2029 in a header (issue 11)', () => {
    const cases: [string, string][] = [
      ['\t', 'a control character (U+0009)'],
      ['\u0000', 'a control character (U+0000)'],
      ['\u007f', 'a control character (U+007F)'],
      ['\u009b', 'a control character (U+009B)'],
      ['\u2028', 'a line separator (U+2028)'],
      ['\u2029', 'a paragraph separator (U+2029)'],
    ];
    for (const [char, described] of cases) {
      const error = templateErrorOf(() =>
        renderSecretText(
          'x-{{trigger.body.note}}',
          contextWith({ note: `a${char}b` }),
          'header',
          'headers.X-Note',
        ),
      );
      expect(error.message).toBe(
        `headers.X-Note: {{trigger.body.note}} rendered ${described}, not allowed in a header`,
      );
      // The whole request fails the same way.
      const request = templateErrorOf(() =>
        renderHttpRequest(
          { method: 'GET', url: 'https://api.example.com', headers: { 'X-Note': '{{trigger.body.note}}' } },
          contextWith({ note: `a${char}b` }),
          ids,
        ),
      );
      expect(request.field).toBe('headers.X-Note');
    }
    // Runs from before render-hardening keep refusing CR/LF only; other fields take any data.
    const legacy = renderSecretText(
      '{{trigger.body.note}}',
      contextWith({ note: 'a\tb\u2028' }),
      'header',
      'headers.X-Note',
      undefined,
      'legacy',
    );
    expect(legacy).toEqual(['a\tb\u2028']);
    expect(
      renderSecretText('{{trigger.body.note}}', contextWith({ note: 'a\tb' }), 'text', 'query.q'),
    ).toEqual(['a\tb']);
  });

  it('allows line breaks from data outside headers', () => {
    expect(renderSecretText('{{trigger.body.multiline}}', context, 'text', 'body')).toEqual([body.multiline]);
  });

  it('throws a TemplateError naming the field for an invalid template', () => {
    const error = templateErrorOf(() => renderSecretText('{{trigger.body.name', context, 'text', 'query.q'));
    expect(error.field).toBe('query.q');
    expect(error.message).toContain('invalid template');
  });

  it(`accepts ${MAX_RENDERED_LENGTH} characters and refuses one more`, () => {
    const exact = contextWith({ value: 'x'.repeat(MAX_RENDERED_LENGTH - 1) });
    expect(renderSecretText('y{{trigger.body.value}}', exact, 'text', 'body')).toEqual([
      `y${'x'.repeat(MAX_RENDERED_LENGTH - 1)}`,
    ]);
    const error = templateErrorOf(() => renderSecretText('yz{{trigger.body.value}}', exact, 'text', 'body'));
    expect(error.field).toBe('body');
    expect(error.message).toContain(String(MAX_RENDERED_LENGTH));
  });

  it('stops a template that repeats a large value thousands of times', () => {
    const big = contextWith({ big: 'x'.repeat(100_000) });
    const source = '{{trigger.body.big}}'.repeat(5_000); // 500 million characters if it were built
    for (const mode of ['text', 'header', 'url'] as const) {
      const error = templateErrorOf(() => renderSecretText(source, big, mode, 'field'));
      expect(error.field).toBe('field');
    }
  });
});

describe('renderHttpRequest', () => {
  it('renders the DESIGN §7 example step', () => {
    const input = renderHttpRequest(
      {
        method: 'POST',
        url: 'https://crm.example.com/v1/contacts',
        headers: { authorization: 'Bearer {{secrets.CRM_TOKEN}}' },
        query: { source: 'hookflow' },
        body: { email: '{{trigger.body.email}}', plan: '{{trigger.body.plan}}' },
        timeout: '10s',
      },
      contextWith({ email: 'ada@example.com', plan: 'free' }),
      ids,
    );
    expect(input).toEqual({
      ownerId: ids.ownerId,
      stepId: ids.stepId,
      method: 'POST',
      url: ['https://crm.example.com/v1/contacts'],
      headers: [
        ['authorization', ['Bearer ', { secret: 'CRM_TOKEN' }]],
        ['Idempotency-Key', [ids.idempotencyKey]],
        ['Content-Type', ['application/json']],
      ],
      query: [['source', ['hookflow']]],
      body: {
        kind: 'json',
        node: {
          kind: 'object',
          entries: [
            ['email', { kind: 'value', value: 'ada@example.com' }],
            ['plan', { kind: 'value', value: 'free' }],
          ],
        },
      },
      timeoutMs: parseDuration('10s'),
      followRedirects: false,
    });
  });

  it('keeps secrets as placeholders in url, headers, query and body', () => {
    const input = render({
      url: 'https://api.example.com/{{secrets.ACCOUNT}}/x',
      headers: { 'x-api-key': '{{secrets.KEY}}' },
      query: { token: 't-{{secrets.TOKEN}}' },
      body: 'secret={{secrets.BODY}}',
    });
    expect(input.url).toEqual(['https://api.example.com/', { secret: 'ACCOUNT' }, '/x']);
    expect(header(input, 'x-api-key')).toEqual([{ secret: 'KEY' }]);
    expect(input.query).toEqual([['token', ['t-', { secret: 'TOKEN' }]]]);
    expect(input.body).toEqual({ kind: 'text', text: ['secret=', { secret: 'BODY' }] });
    expect(JSON.stringify(input)).not.toContain('{{secrets.');
  });

  it('keeps a whole-url secret a single placeholder', () => {
    expect(render({ url: '{{secrets.WEBHOOK_URL}}' }).url).toEqual([{ secret: 'WEBHOOK_URL' }]);
  });

  it('names the header at fault when data puts a line break in it', () => {
    const error = templateErrorOf(() => render({ headers: { 'X-Customer': '{{trigger.body.multiline}}' } }));
    expect(error.field).toBe('headers.X-Customer');
    expect(error.message).toMatch(/^headers\.X-Customer: /);
  });

  it('renders query values as text: the activity encodes them when it appends them', () => {
    const input = render({ query: { id: '{{trigger.body.id}}', multi: '{{trigger.body.lf}}' } });
    expect(input.query).toEqual([
      ['id', [body.id]],
      ['multi', [body.lf]],
    ]);
  });

  describe('JSON body', () => {
    const node = (input: HttpRequestInput): JsonBodyNode => {
      if (input.body?.kind !== 'json')
        throw new Error(`expected a JSON body, got ${JSON.stringify(input.body)}`);
      return input.body.node;
    };
    const entry = (input: HttpRequestInput, key: string): JsonBodyNode | undefined => {
      const root = node(input);
      return root.kind === 'object' ? root.entries.find(([name]) => name === key)?.[1] : undefined;
    };

    it('keeps the JSON type of a value read by a whole-value placeholder', () => {
      const input = render({
        body: {
          items: '{{trigger.body.items}}',
          count: '{{ trigger.body.count }}',
          customer: '{{trigger.body.customer}}',
          vip: '{{trigger.body.vip}}',
          name: '{{trigger.body.name}}',
        },
      });
      expect(entry(input, 'items')).toEqual({ kind: 'value', value: body.items });
      expect(entry(input, 'count')).toEqual({ kind: 'value', value: body.count });
      expect(entry(input, 'customer')).toEqual({ kind: 'value', value: body.customer });
      expect(entry(input, 'vip')).toEqual({ kind: 'value', value: body.vip });
      expect(entry(input, 'name')).toEqual({ kind: 'value', value: body.name });
    });

    it('renders a missing value read by a whole-value placeholder as "", and keeps null', () => {
      const input = render({
        body: { missing: '{{trigger.body.missing}}', nothing: '{{trigger.body.nothing}}' },
      });
      expect(entry(input, 'missing')).toEqual({ kind: 'value', value: '' });
      expect(entry(input, 'nothing')).toEqual({ kind: 'value', value: null });
    });

    it('renders a string mixing text and placeholders as text', () => {
      const input = render({ body: { label: 'n={{trigger.body.count}} {{trigger.body.items}}' } });
      expect(entry(input, 'label')).toEqual({
        kind: 'text',
        text: [`n=${body.count} ${JSON.stringify(body.items)}`],
      });
    });

    it('keeps a whole-value secret as text (a string), never as a value read from the context', () => {
      const input = render({ body: { token: '{{secrets.CRM_TOKEN}}' } });
      expect(entry(input, 'token')).toEqual({ kind: 'text', text: [{ secret: 'CRM_TOKEN' }] });
    });

    it('keeps trigger data spelling {{secrets.X}} a plain value', () => {
      const input = render({ body: { a: '{{trigger.body.injected}}', b: 'x{{trigger.body.injected}}' } });
      expect(entry(input, 'a')).toEqual({ kind: 'value', value: body.injected });
      expect(entry(input, 'b')).toEqual({ kind: 'text', text: [`x${body.injected}`] });
    });

    it('keeps the literals and the shape of the definition, nested arrays and objects included', () => {
      const input = render({
        body: { n: 1.5, t: true, z: null, list: [{ deep: '{{secrets.S}}' }, 'lit', 2], obj: {} },
      });
      expect(node(input)).toEqual({
        kind: 'object',
        entries: [
          ['n', { kind: 'value', value: 1.5 }],
          ['t', { kind: 'value', value: true }],
          ['z', { kind: 'value', value: null }],
          [
            'list',
            {
              kind: 'array',
              items: [
                { kind: 'object', entries: [['deep', { kind: 'text', text: [{ secret: 'S' }] }]] },
                { kind: 'text', text: ['lit'] },
                { kind: 'value', value: 2 },
              ],
            },
          ],
          ['obj', { kind: 'object', entries: [] }],
        ],
      });
    });

    it('names the nested field of an invalid template', () => {
      const error = templateErrorOf(() => render({ body: { list: [{ x: '{{trigger.body' }] } }));
      expect(error.field).toBe('body.list[0].x');
    });
  });

  describe('Idempotency-Key', () => {
    it('is added to every non-GET/HEAD request', () => {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
        expect(header(render({ method }), 'idempotency-key')).toEqual([ids.idempotencyKey]);
      }
    });

    it('is not added to GET and HEAD', () => {
      for (const method of ['GET', 'HEAD'] as const) {
        expect(header(render({ method }), 'idempotency-key')).toBeUndefined();
      }
    });

    it('is the step’s own when it sets one, in any letter case', () => {
      for (const name of ['Idempotency-Key', 'idempotency-key', 'IDEMPOTENCY-KEY']) {
        const input = render({ headers: { [name]: 'mine-{{run.id}}' } });
        const keys = input.headers.filter(([given]) => given.toLowerCase() === 'idempotency-key');
        expect(keys).toEqual([[name, ['mine-run_123']]]);
      }
    });
  });

  describe('Content-Type', () => {
    it('defaults to JSON for an object body and to UTF-8 text for a string body', () => {
      expect(header(render({ body: { a: 1 } }), 'content-type')).toEqual(['application/json']);
      expect(header(render({ body: 'hello' }), 'content-type')).toEqual(['text/plain; charset=utf-8']);
    });

    it('is left to the step when it sets one, in any letter case', () => {
      for (const name of ['Content-Type', 'content-type', 'CONTENT-TYPE']) {
        for (const requestBody of [{ a: 1 }, 'a=1']) {
          const input = render({
            headers: { [name]: 'application/x-www-form-urlencoded' },
            body: requestBody,
          });
          const types = input.headers.filter(([given]) => given.toLowerCase() === 'content-type');
          expect(types).toEqual([[name, ['application/x-www-form-urlencoded']]]);
        }
      }
    });

    it('is not set without a body', () => {
      expect(header(render({}), 'content-type')).toBeUndefined();
      expect(render({}).body).toBeNull();
      expect(header(render({ method: 'GET' }), 'content-type')).toBeUndefined();
    });
  });

  it('defaults the timeout to 10 s and parses a given one', () => {
    expect(DEFAULT_HTTP_TIMEOUT_MS).toBe(parseDuration('10s'));
    expect(render({}).timeoutMs).toBe(DEFAULT_HTTP_TIMEOUT_MS);
    expect(render({ timeout: '30s' }).timeoutMs).toBe(parseDuration('30s'));
    expect(render({ timeout: '250ms' }).timeoutMs).toBe(250);
    expect(render({ timeout: 2500 }).timeoutMs).toBe(2500);
  });

  it('follows redirects only when the step says so', () => {
    expect(render({}).followRedirects).toBe(false);
    expect(render({ followRedirects: true }).followRedirects).toBe(true);
    expect(render({ followRedirects: false }).followRedirects).toBe(false);
  });

  describe('size bound', () => {
    const big = contextWith({ big: 'x'.repeat(100_000) });
    const renderBig = (params: Partial<HttpParams>) => () =>
      renderHttpRequest({ method: 'POST', url: 'https://api.example.com', ...params }, big, ids);
    const repeated = '{{trigger.body.big}}'.repeat(5_000);

    it('stops a url, header, query or string body that repeats a large value thousands of times', () => {
      expect(templateErrorOf(renderBig({ url: `https://api.example.com/${repeated}` })).field).toBe('url');
      expect(templateErrorOf(renderBig({ headers: { 'x-big': repeated } })).field).toBe('headers.x-big');
      expect(templateErrorOf(renderBig({ query: { q: repeated } })).field).toBe('query.q');
      expect(templateErrorOf(renderBig({ body: repeated })).field).toBe('body');
    });

    it('stops a JSON body that repeats a large value thousands of times, as values or as text', () => {
      const asValues = Array.from({ length: 5_000 }, () => '{{trigger.body.big}}');
      const asText = Array.from({ length: 5_000 }, () => 'v={{trigger.body.big}}');
      const asKeys = Object.fromEntries(asValues.map((value, index) => [`k${index}`, value]));
      for (const requestBody of [{ list: asValues }, { list: asText }, asKeys]) {
        const error = templateErrorOf(renderBig({ body: requestBody }));
        expect(error.field).toMatch(/^body/);
      }
    });

    it('counts every leaf of a JSON body against one budget', () => {
      // Each leaf alone is well under the limit; together they are over it.
      const leaves = Math.ceil(MAX_RENDERED_LENGTH / 100_000) + 1;
      const requestBody = { list: Array.from({ length: leaves }, () => '{{trigger.body.big}}') };
      expect(templateErrorOf(renderBig({ body: requestBody })).field).toMatch(/^body/);
      const fewer = { list: Array.from({ length: leaves - 2 }, () => '{{trigger.body.big}}') };
      expect(() => renderBig({ body: fewer })()).not.toThrow();
    });

    it('counts the url, headers, query and body of one request against one budget', () => {
      // 100 KB each, six fields: over the limit only together.
      const one = '{{trigger.body.big}}';
      const spread = renderBig({
        url: `https://api.example.com/${one}`,
        headers: { 'x-a': one, 'x-b': one },
        query: { a: one, b: one },
        body: one,
      });
      const error = templateErrorOf(spread);
      expect(error.message).toContain(`the request renders more than ${MAX_RENDERED_LENGTH} characters`);
      expect(() => renderBig({ headers: { 'x-a': one, 'x-b': one }, query: { a: one } })()).not.toThrow();
    });
  });
});
