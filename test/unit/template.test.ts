import { describe, expect, it } from 'vitest';
import type { EmailParams } from '../../src/dsl/email-step.js';
import {
  extractReferences,
  isEmailAddress,
  isMailbox,
  lookupPath,
  parseTemplate,
  renderEmail,
  renderTemplate,
  TemplateError,
  type RenderContext,
} from '../../src/workflows/template.js';

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

  it('splits recipient lists on commas and drops empty entries', () => {
    const team = contextWith({ email: 'ada@example.com, grace@example.com,', cc: '' });
    const email = renderEmail(
      {
        ...params,
        to: ['{{trigger.body.email}}', 'ops@example.com'],
        cc: '{{trigger.body.cc}}',
        bcc: ['audit@example.com'],
      },
      team,
    );
    expect(email.to).toEqual(['ada@example.com', 'grace@example.com', 'ops@example.com']);
    expect(email).not.toHaveProperty('cc');
    expect(email.bcc).toEqual(['audit@example.com']);
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
