import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EmailParams } from '../../src/dsl/email-step.js';
import {
  extractReferences,
  isEmailAddress,
  isMailbox,
  lookupPath,
  mailboxAddress,
  MAX_RECIPIENTS,
  parseTemplate,
  renderEmail,
  renderTemplate,
  TemplateError,
  type RenderContext,
} from '../../src/workflows/template.js';

/**
 * What a browser makes of an attribute value: character references decoded (numeric ones and the named ones that can
 * spell URL syntax), then, as the URL parser does, tabs and line breaks removed and leading spaces and controls cut.
 * The oracle of the URL tests, written apart from the renderer on purpose.
 */
function urlAsParsed(attributeValue: string): string {
  const named: Record<string, string> = {
    amp: '&',
    colon: ':',
    sol: '/',
    Tab: '\t',
    NewLine: '\n',
    num: '#',
  };
  return (
    attributeValue
      .replace(/&#[xX]([0-9a-fA-F]+);?/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
      .replace(/&#(\d+);?/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
      .replace(/&([A-Za-z]+);/g, (whole, name: string) => named[name] ?? whole)
      .replace(/[\t\n\r]/g, '')
      // eslint-disable-next-line no-control-regex
      .replace(/^[\u0000-\u0020]+/, '')
  );
}

function contextWith(body: unknown, steps: RenderContext['steps'] = {}): RenderContext {
  return {
    trigger: { body, query: { ref: 'newsletter' }, headers: { 'user-agent': 'curl/8' } },
    steps,
    run: { id: 'run_123' },
    workflow: { name: 'Welcome series' },
  };
}

const context = contextWith(
  {
    email: 'ada@example.com',
    name: 'Ada',
    plan: null,
    age: 36,
    vip: true,
    items: [{ sku: 'A-1', qty: 2 }],
  },
  { welcome: { output: { providerId: 'msg_1' } } },
);

/** Runs `render` and returns the TemplateError it throws. */
function templateErrorOf(render: () => unknown): TemplateError {
  try {
    render();
  } catch (error) {
    if (error instanceof TemplateError) return error;
    throw error;
  }
  throw new Error('expected a TemplateError, nothing was thrown');
}

describe('parseTemplate', () => {
  it('splits literal text and references, allowing whitespace inside the braces', () => {
    expect(parseTemplate('Hi {{ trigger.body.name }}, item {{trigger.body.items.0.sku}}!')).toEqual({
      ok: true,
      parts: [
        'Hi ',
        { path: ['trigger', 'body', 'name'] },
        ', item ',
        { path: ['trigger', 'body', 'items', '0', 'sku'] },
        '!',
      ],
    });
  });

  it('keeps a lone "}}" as text (CSS in an html body)', () => {
    expect(parseTemplate('a { b { c: d }}')).toEqual({ ok: true, parts: ['a { b { c: d }}'] });
  });

  it('names the position of an unclosed or invalid reference', () => {
    expect(parseTemplate('Hello {{trigger.body.name')).toEqual({
      ok: false,
      error: 'unclosed "{{" at character 7',
    });
    expect(parseTemplate('ab{{ }}')).toEqual({ ok: false, error: 'empty reference "{{}}" at character 3' });
    const expression = parseTemplate('{{ trigger.body.a + 1 }}');
    expect(expression.ok).toBe(false);
    expect(!expression.ok && expression.error).toMatch(
      /^invalid reference "\{\{trigger.body.a \+ 1\}\}" at character 1/,
    );
    // Handlebars helpers and triple braces are not a thing here.
    expect(parseTemplate('{{#if trigger.body.vip}}x{{/if}}').ok).toBe(false);
    expect(parseTemplate('{{{trigger.body.html}}}').ok).toBe(false);
  });

  it('lists references with extractReferences', () => {
    expect(extractReferences('{{steps.welcome.output.providerId}} and {{ run.id }}')).toEqual([
      ['steps', 'welcome', 'output', 'providerId'],
      ['run', 'id'],
    ]);
    expect(extractReferences('no references')).toEqual([]);
  });
});

describe('lookupPath', () => {
  it('reads nested objects and array indexes', () => {
    expect(lookupPath(context, ['trigger', 'body', 'items', '0', 'qty'])).toBe(2);
    expect(lookupPath(context, ['trigger', 'body', 'items', '1', 'qty'])).toBeUndefined();
    expect(lookupPath(context, ['trigger', 'body', 'name', 'first'])).toBeUndefined();
  });

  it('never walks into prototypes, even when the body has an own "__proto__" key', () => {
    const body: unknown = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"name": "x"}}');
    const hostile = contextWith(body);
    expect(lookupPath(hostile, ['trigger', 'body', '__proto__', 'polluted'])).toBeUndefined();
    expect(lookupPath(hostile, ['trigger', 'body', 'constructor', 'name'])).toBeUndefined();
    expect(lookupPath(context, ['trigger', 'body', 'toString'])).toBeUndefined();
    expect(lookupPath(context, ['trigger', 'body', 'constructor', 'prototype'])).toBeUndefined();
  });
});

describe('renderTemplate', () => {
  it('renders nested values, numbers, booleans and JSON for objects', () => {
    expect(
      renderTemplate(
        '{{trigger.body.name}} ({{trigger.body.age}}, vip={{trigger.body.vip}}) via {{trigger.query.ref}} in {{workflow.name}}/{{run.id}}',
        context,
        'text',
      ),
    ).toBe('Ada (36, vip=true) via newsletter in Welcome series/run_123');
    expect(renderTemplate('{{trigger.body.items}}', context, 'text')).toBe('[{"sku":"A-1","qty":2}]');
    expect(renderTemplate('{{steps.welcome.output.providerId}}', context, 'text')).toBe('msg_1');
  });

  it('renders missing and null values as an empty string', () => {
    expect(
      renderTemplate(
        '[{{trigger.body.missing.deep}}][{{trigger.body.plan}}][{{steps.nope.output}}]',
        context,
        'text',
      ),
    ).toBe('[][][]');
  });

  it('renders prototype-pollution paths as an empty string', () => {
    expect(
      renderTemplate(
        '[{{trigger.body.__proto__}}][{{trigger.body.constructor.name}}][{{trigger.body.toString}}]',
        context,
        'text',
      ),
    ).toBe('[][][]');
  });

  it('escapes inserted values in html mode but keeps the literal markup', () => {
    const hostile = contextWith({ name: `<script>alert("x")</script> & 'Bob'` });
    expect(renderTemplate('<p class="greeting">Hi {{trigger.body.name}}</p>', hostile, 'html')).toBe(
      '<p class="greeting">Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Bob&#39;</p>',
    );
    // Text bodies are not HTML: nothing to escape.
    expect(renderTemplate('Hi {{trigger.body.name}}', hostile, 'text')).toBe(
      `Hi <script>alert("x")</script> & 'Bob'`,
    );
  });

  it('rejects a line break in a header value, naming the field', () => {
    const injected = contextWith({ name: 'Ada\r\nBcc: victim@example.com' });
    const error = templateErrorOf(() =>
      renderTemplate('Welcome, {{trigger.body.name}}', injected, 'header', 'subject'),
    );
    expect(error.field).toBe('subject');
    expect(error.message).toBe(
      'subject: rendered value contains a line break (CR/LF), which is not allowed in an email header',
    );
    expect(() => renderTemplate('Welcome\n{{trigger.body.name}}', context, 'header', 'subject')).toThrow(
      TemplateError,
    );
    // Line breaks are fine in a body.
    expect(renderTemplate('Welcome, {{trigger.body.name}}', injected, 'text')).toContain('\r\n');
  });

  it('throws a TemplateError for a template that does not parse', () => {
    expect(() => renderTemplate('{{oops', context, 'text', 'text')).toThrow(
      'text: invalid template: unclosed "{{" at character 1',
    );
  });
});

describe('email addresses', () => {
  it('accepts plain addresses only for recipients and "Name <addr>" as well for from', () => {
    for (const good of ['ada@example.com', 'first.last+tag@mail.example.co.uk', "o'brien@example.io"]) {
      expect(isEmailAddress(good)).toBe(true);
    }
    for (const bad of [
      '',
      'ada',
      'ada@example',
      'ada @example.com',
      'a..b@example.com',
      'Ada <ada@example.com>',
      'ada@-x.com',
    ]) {
      expect(isEmailAddress(bad)).toBe(false);
    }
    expect(isMailbox('Ada Lovelace <ada@example.com>')).toBe(true);
    expect(isMailbox('"Acme, Inc." <noreply@acme.io>')).toBe(true);
    expect(isMailbox('Ada <ada@example>')).toBe(false);
  });
});

describe('renderEmail', () => {
  const params: EmailParams = {
    to: '{{trigger.body.email}}',
    subject: 'Welcome, {{trigger.body.name}}',
    html: '<p>Hi {{trigger.body.name}}</p>',
    text: 'Hi {{trigger.body.name}}',
  };

  it('renders every field in its mode and applies the default sender', () => {
    const hostile = contextWith({ email: 'ada@example.com', name: '<b>Ada</b>' });
    expect(renderEmail(params, hostile, { from: 'Hookflow <noreply@hookflow.dev>' })).toEqual({
      from: 'Hookflow <noreply@hookflow.dev>',
      to: ['ada@example.com'],
      subject: 'Welcome, <b>Ada</b>',
      html: '<p>Hi &lt;b&gt;Ada&lt;/b&gt;</p>',
      text: 'Hi <b>Ada</b>',
    });
  });

  it('leaves from out when neither the step nor the defaults give one', () => {
    expect(renderEmail(params, context, { from: undefined })).not.toHaveProperty('from');
  });

  it('splits literal recipient lists on commas and drops empty entries', () => {
    const team = contextWith({ email: 'ada@example.com', cc: '' });
    const email = renderEmail(
      {
        ...params,
        to: ['{{trigger.body.email}}, grace@example.com,', 'ops@example.com'],
        cc: '{{trigger.body.cc}}',
        bcc: ['audit@example.com'],
      },
      team,
    );
    expect(email.to).toEqual(['ada@example.com', 'grace@example.com', 'ops@example.com']);
    expect(email).not.toHaveProperty('cc');
    expect(email.bcc).toEqual(['audit@example.com']);
  });

  it('splits rendered values on commas too under the legacy rules (runs from before render-hardening)', () => {
    const team = contextWith({ email: 'ada@example.com, grace@example.com,', cc: '' });
    const email = renderEmail(
      { ...params, to: ['{{trigger.body.email}}', 'ops@example.com'], cc: '{{trigger.body.cc}}' },
      team,
      { rules: 'legacy' },
    );
    expect(email.to).toEqual(['ada@example.com', 'grace@example.com', 'ops@example.com']);
    expect(email).not.toHaveProperty('cc');
  });

  it('fails with the field and the template that rendered a bad address', () => {
    const error = templateErrorOf(() =>
      renderEmail(params, contextWith({ email: 'not-an-email', name: 'Ada' })),
    );
    expect(error.field).toBe('to');
    expect(error.message).toBe(
      'to: "{{trigger.body.email}}" rendered "not-an-email", which is not a valid email address',
    );

    const replyTo = templateErrorOf(() =>
      renderEmail(
        { ...params, replyTo: 'support+{{trigger.body.name}}@example.com' },
        contextWith({ email: 'a@b.io', name: 'A B' }),
      ),
    );
    expect(replyTo.message).toBe(
      'replyTo: "support+{{trigger.body.name}}@example.com" rendered "support+A B@example.com", which is not a valid email address',
    );
  });

  it('fails when "to" renders no recipient at all', () => {
    const error = templateErrorOf(() => renderEmail(params, contextWith({ name: 'Ada' })));
    expect(error.message).toMatch(/^to: "\{\{trigger.body.email\}\}" rendered no recipient/);
  });

  it('rejects a rendered sender that is not an address', () => {
    const error = templateErrorOf(() =>
      renderEmail(
        { ...params, from: '{{trigger.body.name}} <{{trigger.body.sender}}>' },
        contextWith({ email: 'a@b.io', name: 'Ada' }),
      ),
    );
    expect(error.field).toBe('from');
    expect(error.message).toContain('rendered "Ada <>", which is not a valid sender');
  });

  it('rejects a line break injected into the subject', () => {
    const error = templateErrorOf(() =>
      renderEmail(params, contextWith({ email: 'ada@example.com', name: 'Ada\nBcc: victim@example.com' })),
    );
    expect(error.field).toBe('subject');
    expect(error.message).toContain('line break (CR/LF)');
  });
});

describe('recipients: one placeholder, one address (issue 11)', () => {
  const params: EmailParams = { to: '{{trigger.body.email}}', subject: 'Hi', text: 'Hi' };

  it('fails a value holding a comma-separated list, naming the field and the template', () => {
    const error = templateErrorOf(() =>
      renderEmail(params, contextWith({ email: 'a@x.com,b@y.com,c@z.com' })),
    );
    expect(error.field).toBe('to');
    expect(error.message).toBe(
      'to: "{{trigger.body.email}}" rendered "a@x.com,b@y.com,c@z.com", which holds more than one address: a ' +
        'placeholder renders exactly one address; for several, list them in the step (comma-separated or as a ' +
        'JSON array) or give an array of addresses as the value',
    );
    for (const field of ['cc', 'bcc', 'replyTo'] as const) {
      const other = templateErrorOf(() =>
        renderEmail(
          { ...params, to: 'ada@example.com', [field]: 'ops@example.com, {{trigger.body.email}}' },
          contextWith({ email: 'a@x.com, b@y.com' }),
        ),
      );
      expect(other.field).toBe(field);
      expect(other.message).toContain(
        '"ops@example.com, {{trigger.body.email}}" rendered "a@x.com, b@y.com"',
      );
    }
  });

  it('fails any other value that is not exactly one address', () => {
    for (const email of [
      'a@x.com b@y.com',
      'a@x.com;b@y.com',
      'Ada <a@x.com>',
      'a@x.com\tb@y.com',
      '["a@x.com"]',
    ]) {
      const error = templateErrorOf(() => renderEmail(params, contextWith({ email })));
      expect(error.field, email).toBe('to');
    }
    // A placeholder inside a larger entry renders into that one address only.
    expect(
      renderEmail({ ...params, to: 'support+{{trigger.body.tag}}@example.com' }, contextWith({ tag: 'vip' }))
        .to,
    ).toEqual(['support+vip@example.com']);
    const error = templateErrorOf(() =>
      renderEmail({ ...params, to: '{{trigger.body.user}}@example.com' }, contextWith({ user: 'a@x.com,b' })),
    );
    expect(error.message).toContain('holds more than one address');
  });

  it('sends to each address of an array value, after the literal ones', () => {
    const email = renderEmail(
      { ...params, to: ['ops@example.com', '{{trigger.body.emails}}'], cc: '{{trigger.body.none}}' },
      contextWith({ emails: [' ada@example.com', 'grace@example.com'], none: [] }),
    );
    expect(email.to).toEqual(['ops@example.com', 'ada@example.com', 'grace@example.com']);
    expect(email).not.toHaveProperty('cc');
  });

  it('fails an array value with an item that is not one address, naming the item', () => {
    for (const item of [42, null, '', 'a@x.com,b@y.com', { email: 'a@x.com' }]) {
      const error = templateErrorOf(() =>
        renderEmail(params, contextWith({ email: ['ada@example.com', item] })),
      );
      expect(error.field).toBe('to');
      expect(error.message).toMatch(
        /^to: "\{\{trigger\.body\.email\}\}" rendered .*item 1|holds more than one/,
      );
    }
    // An array is a list only as a whole entry: inside other text it is its JSON, which is no address.
    const inside = templateErrorOf(() =>
      renderEmail({ ...params, to: 'x{{trigger.body.email}}' }, contextWith({ email: ['a@x.com'] })),
    );
    expect(inside.message).toContain('which is not a valid email address');
  });

  it(`caps a field at ${MAX_RECIPIENTS} addresses, array values included`, () => {
    const many = Array.from({ length: MAX_RECIPIENTS }, (_, index) => `user${index}@example.com`);
    expect(renderEmail(params, contextWith({ email: many })).to).toHaveLength(MAX_RECIPIENTS);
    const error = templateErrorOf(() =>
      renderEmail(
        { ...params, to: ['ops@example.com', '{{trigger.body.email}}'] },
        contextWith({ email: many }),
      ),
    );
    expect(error.field).toBe('to');
    expect(error.message).toContain(`at most ${MAX_RECIPIENTS} are allowed`);
  });

  it('fails when an empty array leaves "to" without recipients', () => {
    const error = templateErrorOf(() => renderEmail(params, contextWith({ email: [] })));
    expect(error.message).toMatch(/^to: "\{\{trigger.body.email\}\}" rendered no recipient/);
  });
});

describe('header fields refuse control characters and U+2028/U+2029 (issue 11)', () => {
  const params: EmailParams = {
    to: '{{trigger.body.email}}',
    subject: 'Welcome, {{trigger.body.name}}',
    text: 'x',
  };
  const cases: [string, string][] = [
    ['\t', 'a control character (U+0009)'],
    ['\u0000', 'a control character (U+0000)'],
    ['\u001b', 'a control character (U+001B)'],
    ['\u007f', 'a control character (U+007F)'],
    ['\u0085', 'a control character (U+0085)'],
    ['\u2028', 'a line separator (U+2028)'],
    ['\u2029', 'a paragraph separator (U+2029)'],
    ['\r\n', 'a line break (CR/LF)'],
  ];

  it('fails the subject, from and recipients on any of them, naming the field and the character', () => {
    for (const [char, described] of cases) {
      const subject = templateErrorOf(() =>
        renderEmail(params, contextWith({ email: 'ada@example.com', name: `Ada${char}Bcc: x@y.z` })),
      );
      expect(subject.message).toBe(
        `subject: rendered value contains ${described}, which is not allowed in an email header`,
      );
      const from = templateErrorOf(() =>
        renderEmail(
          { ...params, subject: 'Hi', from: '{{trigger.body.name}} <team@example.com>' },
          contextWith({ email: 'ada@example.com', name: `Ada${char}` }),
        ),
      );
      expect(from.field).toBe('from');
      const to = templateErrorOf(() =>
        renderEmail({ ...params, subject: 'Hi' }, contextWith({ email: `ada@example.com${char}` })),
      );
      expect(to.field).toBe('to');
    }
  });

  it('keeps refusing only CR/LF under the legacy rules', () => {
    const email = renderEmail(
      params,
      contextWith({ email: 'ada@example.com', name: 'Ada\tLovelace\u2028' }),
      {
        rules: 'legacy',
      },
    );
    expect(email.subject).toBe('Welcome, Ada\tLovelace\u2028');
    // Bodies are not headers: a tab in text or html is data.
    expect(renderTemplate('a{{trigger.body.name}}', contextWith({ name: '\t' }), 'text')).toBe('a\t');
  });
});

describe('senders: one mailbox (issue 11)', () => {
  it('reads the address of one mailbox and refuses a display name that reads as more addresses', () => {
    expect(mailboxAddress('ada@example.com')).toBe('ada@example.com');
    expect(mailboxAddress('Ada Lovelace <ada@example.com>')).toBe('ada@example.com');
    expect(mailboxAddress('"Acme, Inc." <noreply@acme.io>')).toBe('noreply@acme.io');
    expect(mailboxAddress('Dr. Ada <ada@example.com>')).toBe('ada@example.com');
    for (const bad of [
      'ceo@bank.example, Team <team@example.com>',
      'Acme, Inc <noreply@acme.io>',
      'a@b.c <team@example.com>',
      '"Ada" "x" <ada@example.com>',
      'Ada <ada@example>',
      'Ada <a@x.com> <b@y.com>',
    ]) {
      expect(mailboxAddress(bad), bad).toBeUndefined();
    }
  });

  it('fails a rendered from whose display name smuggles another address', () => {
    const error = templateErrorOf(() =>
      renderEmail(
        { to: 'ada@example.com', subject: 'Hi', text: 'x', from: '{{trigger.body.name}} <team@example.com>' },
        contextWith({ name: 'ceo@bank.example,' }),
      ),
    );
    expect(error.field).toBe('from');
    expect(error.message).toContain('which is not a valid sender');
  });
});

describe('links in html: only http(s) and mailto URLs render into URL attributes (issue 11)', () => {
  const html = (template: string, body: unknown) =>
    renderTemplate(template, contextWith(body), 'html', 'html');
  const hostile = [
    'javascript:alert(document.cookie)',
    'JavaScript:alert(1)',
    '  javascript:alert(1)',
    '\u0001javascript:alert(1)',
    'java\tscript:alert(1)',
    'java\nscript:alert(1)',
    'vbscript:msgbox(1)',
    'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
    '//evil.example/phish',
    '/relative/path',
    'javascript&colon;alert(1)',
    '',
  ];

  it('renders "#" for any other value that starts a URL attribute, in every quoting and spelling', () => {
    const templates = [
      '<a href="{{trigger.body.url}}">x</a>',
      "<a href='{{trigger.body.url}}'>x</a>",
      '<a href={{trigger.body.url}}>x</a>',
      '<a HREF = "{{trigger.body.url}}">x</a>',
      '<a class="button" title="a>b" href="{{trigger.body.url}}">x</a>',
      '<img src="{{trigger.body.url}}">',
      '<form action="{{trigger.body.url}}"><button formaction="{{trigger.body.url}}">go</button></form>',
      '<svg><a xlink:href="{{trigger.body.url}}"><text>x</text></a></svg>',
      '<table background="{{trigger.body.url}}"></table>',
      '<style>p { color: red }</style><a href="{{trigger.body.url}}">x</a>',
      '<!-- a comment --><a href="{{trigger.body.url}}">x</a>',
    ];
    for (const template of templates) {
      for (const url of hostile) {
        const rendered = html(template, { url });
        expect(rendered, `${template} with ${JSON.stringify(url)}`).not.toMatch(
          /script|data:|evil|relative/i,
        );
        expect(rendered).toContain('#');
      }
    }
    expect(html('<a href="{{trigger.body.url}}">x</a>', { url: 'javascript:alert(1)' })).toBe(
      '<a href="#">x</a>',
    );
    expect(html('<a href={{trigger.body.url}}>x</a>', { url: 'javascript:alert(1)' })).toBe(
      '<a href=&#x23;>x</a>',
    );
  });

  it('keeps http, https and mailto URLs (escaped)', () => {
    expect(html('<a href="{{trigger.body.url}}">x</a>', { url: 'https://example.com/a?b=1&c="2"' })).toBe(
      '<a href="https://example.com/a?b=1&amp;c=&quot;2&quot;">x</a>',
    );
    expect(html("<a href='{{trigger.body.url}}'>x</a>", { url: 'HTTP://example.com' })).toBe(
      "<a href='HTTP://example.com'>x</a>",
    );
    expect(html('<a href="{{trigger.body.url}}">x</a>', { url: 'mailto:ada@example.com' })).toBe(
      '<a href="mailto:ada@example.com">x</a>',
    );
    // Unquoted: written as character references, which the parser decodes back into the same URL.
    const unquoted = html('<a href={{trigger.body.url}}>x</a>', { url: 'https://example.com/a b' });
    expect(unquoted).toBe('<a href=https&#x3a;&#x2f;&#x2f;example&#x2e;com&#x2f;a&#x20;b>x</a>');
    expect(urlAsParsed('https&#x3a;&#x2f;&#x2f;example&#x2e;com&#x2f;a&#x20;b')).toBe(
      'https://example.com/a b',
    );
  });

  it('lets a value extend a URL whose scheme the template settles', () => {
    expect(
      html('<a href="https://example.com/u/{{trigger.body.id}}">x</a>', { id: 'javascript:alert(1)' }),
    ).toBe('<a href="https://example.com/u/javascript:alert(1)">x</a>');
    expect(
      html('<a href="{{trigger.body.base}}/{{trigger.body.id}}">x</a>', {
        base: 'https://a.example',
        id: 'b',
      }),
    ).toBe('<a href="https://a.example/b">x</a>');
    // An unsettled prefix does not help a value pick the scheme.
    expect(html('<a href="java{{trigger.body.rest}}">x</a>', { rest: 'script:alert(1)' })).toBe(
      '<a href="java#">x</a>',
    );
    expect(
      html('<a href="{{trigger.body.a}}{{trigger.body.b}}">x</a>', { a: '', b: 'javascript:alert(1)' }),
    ).toBe('<a href="#javascript:alert(1)">x</a>');
  });

  it('leaves values outside URL attributes as they were (escaped)', () => {
    const value = 'javascript:alert(1)';
    expect(html('<p title="{{trigger.body.v}}">{{trigger.body.v}}</p>', { v: value })).toBe(
      `<p title="${value}">${value}</p>`,
    );
    expect(html('<a href="https://ok.example">{{trigger.body.v}}</a>', { v: value })).toBe(
      `<a href="https://ok.example">${value}</a>`,
    );
    expect(html('<!-- <a href=" -->{{trigger.body.v}}', { v: value })).toBe(`<!-- <a href=" -->${value}`);
    expect(html('<style>a[href="x"] { color: red }</style>{{trigger.body.v}}', { v: value })).toBe(
      `<style>a[href="x"] { color: red }</style>${value}`,
    );
  });

  it('keeps a value inside a tag from starting another attribute', () => {
    const onclick = html('<td class={{trigger.body.c}}>x</td>', { c: 'x onmouseover=alert(1)' });
    expect(onclick).toBe('<td class=x&#x20;onmouseover&#x3d;alert&#x28;1&#x29;>x</td>');
    const attrs = html('<a {{trigger.body.attrs}}>x</a>', { attrs: 'href=javascript:alert(1)' });
    expect(attrs).not.toMatch(/href=j/);
  });

  it('renders values as before under the legacy rules', () => {
    expect(
      renderTemplate(
        '<a href="{{trigger.body.url}}">x</a>',
        contextWith({ url: 'javascript:alert(1)' }),
        'html',
        'html',
        Infinity,
        'legacy',
      ),
    ).toBe('<a href="javascript:alert(1)">x</a>');
  });

  it('never lets any value give a link a scheme other than http(s) or mailto (property)', () => {
    const templates = [
      '<a href="{{trigger.body.v}}">',
      "<a href='{{trigger.body.v}}'>",
      '<a href={{trigger.body.v}}>',
      '<a href="{{trigger.body.v}}{{trigger.body.w}}">',
      '<a href=" {{trigger.body.w}}{{trigger.body.v}}">',
    ];
    const piece = fc.oneof(
      fc.string(),
      fc.constantFrom(
        'javascript:',
        'JAVASCRIPT:',
        'java',
        'script:',
        '\t',
        ' ',
        ':',
        '&#58;',
        '&colon;',
        'https://x',
      ),
    );
    fc.assert(
      fc.property(fc.constantFrom(...templates), piece, piece, (template, v, w) => {
        const rendered = html(template, { v, w });
        const match = /^<a href=(?:"([^"]*)"|'([^']*)'|([^\s>]*))>$/.exec(rendered);
        expect(match, rendered).not.toBeNull();
        const raw = match?.[1] ?? match?.[2] ?? match?.[3] ?? '';
        const url = urlAsParsed(raw);
        const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
        expect(scheme === undefined || ['http', 'https', 'mailto'].includes(scheme), rendered).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
