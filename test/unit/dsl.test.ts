import { describe, expect, it } from 'vitest';
import { formatIssues, type FormattedIssue } from '../../src/api/format-issues.js';
import { durationSchema, MAX_TEMPLATE_LENGTH, retrySchema } from '../../src/dsl/fields.js';
import { MAX_STEPS, stepsSchema, workflowDefinitionSchema } from '../../src/dsl/schema.js';
import { parseDuration } from '../../src/workflows/durations.js';
import { DEFAULT_EMAIL_RETRY, retryTotalBudgetMs } from '../../src/workflows/retry.js';

const emailRetrySchema = retrySchema(DEFAULT_EMAIL_RETRY);

/** The example of DESIGN.md §2, verbatim. */
const designExample = {
  name: 'Welcome series',
  enabled: true,
  webhook: { signing: 'none' },
  steps: [
    {
      id: 'welcome',
      type: 'email',
      params: {
        to: '{{trigger.body.email}}',
        subject: 'Welcome, {{trigger.body.name}}',
        html: '<p>Hi {{trigger.body.name}}</p>',
        text: 'Hi {{trigger.body.name}}',
      },
      retry: { maxAttempts: 8, initialInterval: '2s', backoffCoefficient: 2, maxInterval: '5m' },
    },
    { id: 'wait', type: 'delay', params: { duration: '3d' } },
    {
      id: 'nudge',
      type: 'email',
      when: { path: 'trigger.body.plan', op: 'eq', value: 'free' },
      params: { to: '{{trigger.body.email}}', subject: 'Still there?', text: '...' },
    },
  ],
};

const emailStep = (id: string, params: Record<string, unknown> = {}) => ({
  id,
  type: 'email',
  params: { to: '{{trigger.body.email}}', subject: 'Hello', text: 'Hi', ...params },
});

/** Validates a definition that must fail and returns its issues as the API shows them. */
function issuesOf(definition: unknown): FormattedIssue[] {
  const result = workflowDefinitionSchema.safeParse(definition);
  expect(result.success).toBe(false);
  return result.success ? [] : formatIssues(result.error, definition);
}

function withSteps(...steps: unknown[]) {
  return { name: 'Test', steps };
}

describe('workflowDefinitionSchema', () => {
  it('accepts the DESIGN §2 example and returns it unchanged (a saved definition round-trips)', () => {
    const parsed = workflowDefinitionSchema.parse(designExample);
    expect(parsed).toEqual({ ...designExample, description: '', schedule: null });
    const reparsed = workflowDefinitionSchema.parse(JSON.parse(JSON.stringify(parsed)));
    expect(reparsed).toEqual(parsed);
  });

  it('applies defaults and trims the name', () => {
    const parsed = workflowDefinitionSchema.parse({ name: '  Onboarding  ', steps: [emailStep('hello')] });
    expect(parsed).toMatchObject({
      name: 'Onboarding',
      description: '',
      enabled: true,
      webhook: { signing: 'none' },
    });
  });

  it('rejects a blank name and unknown top-level fields, listing the allowed ones', () => {
    const issues = issuesOf({ name: '   ', steps: [emailStep('a')], trigger: 'webhook' });
    expect(issues).toContainEqual({ path: 'name', message: 'name must not be empty' });
    expect(issues).toContainEqual({
      path: '',
      message: 'unknown field "trigger"; allowed: name, description, enabled, webhook, schedule, steps',
    });
  });

  it('rejects an unknown signing scheme', () => {
    const issues = issuesOf({ ...designExample, webhook: { signing: 'hmac' } });
    expect(issues).toEqual([
      { path: 'webhook.signing', message: 'signing must be "none" or "standard-webhooks"' },
    ]);
  });

  it('says a missing field is required', () => {
    expect(issuesOf({ steps: [emailStep('a')] })).toEqual([{ path: 'name', message: '"name" is required' }]);
  });
});

describe('steps', () => {
  it('names an unknown step type and the allowed ones', () => {
    const issues = issuesOf(withSteps({ id: 'text-me', type: 'sms', params: {} }));
    expect(issues).toEqual([
      {
        path: 'steps[0] (id "text-me").type',
        message: 'unknown step type "sms"; expected one of: email, delay, http',
      },
    ]);
  });

  it('requires a type', () => {
    expect(issuesOf(withSteps({ id: 'a', params: {} }))).toEqual([
      {
        path: 'steps[0] (id "a").type',
        message: 'step type is required; expected one of: email, delay, http',
      },
    ]);
  });

  it('rejects duplicate ids at the second occurrence', () => {
    const issues = issuesOf(withSteps(emailStep('hello'), emailStep('other'), emailStep('hello')));
    expect(issues).toEqual([{ path: 'steps[2] (id "hello").id', message: 'duplicate step id "hello"' }]);
  });

  it('reports a duplicate id together with an unrelated error in another step', () => {
    const issues = issuesOf(
      withSteps(emailStep('a'), emailStep('a'), { id: 'b', type: 'delay', params: {} }),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'steps[2] (id "b").params.duration',
      'steps[1] (id "a").id',
    ]);
  });

  it('rejects ids that do not match the id pattern', () => {
    const issues = issuesOf(withSteps(emailStep('Send Welcome')));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps[0] (id "Send Welcome").id');
    expect(issues[0]?.message).toMatch(/a-z, 0-9/);
  });

  it(`accepts ${MAX_STEPS} steps and rejects one more`, () => {
    const steps = Array.from({ length: MAX_STEPS }, (_, i) => emailStep(`s${i}`));
    expect(workflowDefinitionSchema.safeParse(withSteps(...steps)).success).toBe(true);
    expect(issuesOf(withSteps(...steps, emailStep('one-too-many')))).toEqual([
      { path: 'steps', message: 'a workflow can have at most 50 steps' },
    ]);
  });

  it('rejects an empty step list', () => {
    expect(issuesOf(withSteps())).toEqual([{ path: 'steps', message: 'a workflow needs at least one step' }]);
  });

  it('rejects unknown fields in a step and in params', () => {
    const issues = issuesOf(withSteps({ ...emailStep('a', { attachments: [] }), timeout: '1m' }));
    expect(issues).toContainEqual({
      path: 'steps[0] (id "a")',
      message: 'unknown field "timeout"; allowed: id, type, params, when, retry, onFailure',
    });
    expect(issues).toContainEqual({
      path: 'steps[0] (id "a").params',
      message: 'unknown field "attachments"; allowed: to, subject, html, text, from, replyTo, cc, bcc',
    });
  });

  it('rejects retry on a delay step', () => {
    const issues = issuesOf(withSteps({ id: 'wait', type: 'delay', params: { duration: '1h' }, retry: {} }));
    expect(issues).toEqual([
      {
        path: 'steps[0] (id "wait")',
        message: '"retry" is not allowed on a delay step: only email and http steps are retried',
      },
    ]);
  });

  it('lets a step read the output of an earlier step', () => {
    const steps = [
      emailStep('first'),
      emailStep('second', { text: 'previous: {{ steps.first.output.providerId }}' }),
    ];
    expect(stepsSchema.safeParse(steps).success).toBe(true);
  });

  it('rejects a reference to a later step, naming both steps', () => {
    const issues = issuesOf(
      withSteps(
        emailStep('first', { subject: 'Re: {{steps.second.output.providerId}}' }),
        emailStep('second'),
      ),
    );
    expect(issues).toEqual([
      {
        path: 'steps[0] (id "first").params.subject',
        message:
          'step "first" refers to steps.second.output.providerId, but step "second" runs after it; ' +
          "only earlier steps' output is available",
      },
    ]);
  });

  it('rejects references to a missing step or to the step itself, in templates and in when.path', () => {
    const issues = issuesOf(
      withSteps({
        ...emailStep('a', { to: ['ops@example.com', '{{steps.ghost.output.email}}'] }),
        when: { path: 'steps.a.output', op: 'exists' },
      }),
    );
    expect(issues).toEqual([
      {
        path: 'steps[0] (id "a").params.to[1]',
        message: `step "a" refers to steps.ghost.output.email, but there is no step "ghost"; only earlier steps' output is available`,
      },
      {
        path: 'steps[0] (id "a").when.path',
        message: `step "a" refers to steps.a.output, but a step cannot read its own output; only earlier steps' output is available`,
      },
    ]);
  });
});

describe('email params', () => {
  it('requires html or text', () => {
    const issues = issuesOf(
      withSteps({ id: 'a', type: 'email', params: { to: 'a@example.com', subject: 'Hi' } }),
    );
    expect(issues).toEqual([
      { path: 'steps[0] (id "a").params', message: 'give at least one of "html" or "text"' },
    ]);
  });

  it('checks literal addresses on save but leaves templated ones to run time', () => {
    const ok = emailStep('ok', {
      to: 'ops@example.com, {{trigger.body.email}}',
      cc: ['{{trigger.body.manager}}', 'team@example.co.uk'],
      from: 'Acme Support <support@acme.io>',
      replyTo: '{{trigger.body.replyTo}}',
    });
    expect(workflowDefinitionSchema.safeParse(withSteps(ok)).success).toBe(true);

    const issues = issuesOf(
      withSteps(emailStep('bad', { to: 'not-an-email', from: 'Acme support@acme.io', bcc: [] })),
    );
    expect(issues).toEqual([
      { path: 'steps[0] (id "bad").params.to', message: '"not-an-email" is not a valid email address' },
      {
        path: 'steps[0] (id "bad").params.from',
        message:
          '"Acme support@acme.io" is not a valid sender: expected "addr@example.com" or ' +
          '"Name <addr@example.com>" (a name holding , ; : @ ( ) [ ] goes in double quotes)',
      },
      { path: 'steps[0] (id "bad").params.bcc', message: 'must list at least one address' },
    ]);
  });

  it('rejects a line break typed into a header field', () => {
    const issues = issuesOf(withSteps(emailStep('a', { subject: 'Hello\r\nBcc: victim@example.com' })));
    expect(issues).toEqual([
      {
        path: 'steps[0] (id "a").params.subject',
        message: 'must not contain a line break (CR/LF): it is an email header',
      },
    ]);
  });

  it('rejects every control character and U+2028/U+2029 typed into a header field (issue 11)', () => {
    const cases: [string, string][] = [
      ['\t', 'a control character (U+0009)'],
      ['\u0000', 'a control character (U+0000)'],
      ['\u007f', 'a control character (U+007F)'],
      ['\u0085', 'a control character (U+0085)'],
      ['\u2028', 'a line separator (U+2028)'],
      ['\u2029', 'a paragraph separator (U+2029)'],
    ];
    for (const [char, described] of cases) {
      const issues = issuesOf(
        withSteps(
          emailStep('a', {
            subject: `Hello${char}there`,
            from: `Acme${char} <team@acme.io>`,
            to: `a@example.com${char}`,
            cc: [`{{trigger.body.cc}}${char}`],
            bcc: `b@example.com,${char}`,
            replyTo: `c@example.com${char}`,
          }),
        ),
      );
      const message = `must not contain ${described}: it is an email header`;
      for (const field of ['subject', 'from', 'to', 'cc[0]', 'bcc', 'replyTo']) {
        expect(issues, `${field} with ${JSON.stringify(char)}`).toContainEqual({
          path: `steps[0] (id "a").params.${field}`,
          message,
        });
      }
    }
    // Bodies are not headers.
    expect(
      workflowDefinitionSchema.safeParse(
        withSteps(emailStep('a', { text: 'a\tb\u2028c', html: '<p>\t</p>' })),
      ).success,
    ).toBe(true);
  });

  it('rejects a literal from whose display name reads as more addresses, and takes it quoted', () => {
    const issues = issuesOf(withSteps(emailStep('a', { from: 'Acme, Inc <team@acme.io>' })));
    expect(issues).toEqual([
      {
        path: 'steps[0] (id "a").params.from',
        message:
          '"Acme, Inc <team@acme.io>" is not a valid sender: expected "addr@example.com" or ' +
          '"Name <addr@example.com>" (a name holding , ; : @ ( ) [ ] goes in double quotes)',
      },
    ]);
    const quoted = withSteps(emailStep('a', { from: '"Acme, Inc" <team@acme.io>' }));
    expect(workflowDefinitionSchema.safeParse(quoted).success).toBe(true);
  });

  it('reports template syntax errors and unknown reference roots in the field', () => {
    const issues = issuesOf(
      withSteps(emailStep('a', { html: '<p>Hi {{trigger.body.name</p>', text: '{{body.name}}' })),
    );
    expect(issues).toEqual([
      { path: 'steps[0] (id "a").params.html', message: 'invalid template: unclosed "{{" at character 7' },
      {
        path: 'steps[0] (id "a").params.text',
        message:
          'unknown reference "body.name": a path starts with trigger.body, trigger.query, trigger.headers, ' +
          'steps.<id>.output, steps.<id>.status, run.id or workflow.name',
      },
    ]);
  });

  it(`rejects a string param longer than ${MAX_TEMPLATE_LENGTH} characters`, () => {
    const atLimit = emailStep('a', { html: 'x'.repeat(MAX_TEMPLATE_LENGTH) });
    expect(workflowDefinitionSchema.safeParse(withSteps(atLimit)).success).toBe(true);
    const issues = issuesOf(withSteps(emailStep('a', { html: 'x'.repeat(MAX_TEMPLATE_LENGTH + 1) })));
    expect(issues).toEqual([
      { path: 'steps[0] (id "a").params.html', message: 'must be at most 100000 characters' },
    ]);
  });
});

describe('durations', () => {
  it('accepts unit strings and milliseconds, keeping the value as written', () => {
    for (const value of ['500ms', '30s', '15m', '2h', '3d', 0, 1500]) {
      expect(durationSchema.parse(value)).toBe(value);
    }
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('3d')).toBe(259_200_000);
    expect(parseDuration(1500)).toBe(1500);
  });

  it('names the accepted formats for a bad duration, in the step and field', () => {
    for (const duration of ['3 days', '1.5h', -1, 2.5, true]) {
      const issues = issuesOf(withSteps({ id: 'wait', type: 'delay', params: { duration } }));
      expect(issues).toHaveLength(1);
      expect(issues[0]?.path).toBe('steps[0] (id "wait").params.duration');
      expect(issues[0]?.message).toMatch(
        /^duration must look like "30s", "15m", "2h", "3d" or be milliseconds/,
      );
    }
  });

  it('caps a delay at 365 days', () => {
    expect(durationSchema.safeParse('365d').success).toBe(true);
    expect(durationSchema.safeParse('366d').error?.issues[0]?.message).toBe(
      'duration must be at most 365 days, got "366d"',
    );
  });

  it('throws from parseDuration on input the schema rejects', () => {
    expect(() => parseDuration('soon')).toThrow(/duration must look like/);
  });
});

describe('retry', () => {
  it('computes the worst-case backoff total, merged with the email defaults', () => {
    // 2 + 4 + 8 + 16 + 32 + 64 + 128 seconds: 7 waits between 8 attempts.
    expect(retryTotalBudgetMs()).toBe(254_000);
    expect(retryTotalBudgetMs(DEFAULT_EMAIL_RETRY)).toBe(254_000);
    expect(retryTotalBudgetMs({ maxAttempts: 3 })).toBe(6_000);
    expect(retryTotalBudgetMs({ maxAttempts: 1 })).toBe(0);
    // Capped by maxInterval: 1 min, then 2 min (the cap) four times.
    expect(retryTotalBudgetMs({ maxAttempts: 6, initialInterval: '1m', maxInterval: '2m' })).toBe(9 * 60_000);
  });

  it('rejects a policy that can retry beyond 23 h, inside the provider idempotency window', () => {
    // 99 waits of at most 1 h.
    const issues = issuesOf(
      withSteps({ ...emailStep('a'), retry: { maxAttempts: 100, maxInterval: '1h', initialInterval: '1h' } }),
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('steps[0] (id "a").retry');
    expect(issues[0]?.message).toMatch(
      /4d 3h in total.*within 23 h .*the email provider's 24 h idempotency window/,
    );
  });

  it('accepts exactly 23 h of backoff', () => {
    expect(
      emailRetrySchema.safeParse({ maxAttempts: 24, initialInterval: '1h', maxInterval: '1h' }).success,
    ).toBe(true);
    expect(
      emailRetrySchema.safeParse({ maxAttempts: 25, initialInterval: '1h', maxInterval: '1h' }).success,
    ).toBe(false);
  });

  it('rejects a maxInterval below initialInterval, saying which value is the default', () => {
    const result = emailRetrySchema.safeParse({ initialInterval: '10m' });
    expect(result.error && formatIssues(result.error)).toEqual([
      {
        path: 'maxInterval',
        message: 'maxInterval (5m, the default) must be at least initialInterval (10m)',
      },
    ]);
  });

  it('rejects out-of-range fields and unknown ones', () => {
    const result = emailRetrySchema.safeParse({ maxAttempts: 0, backoffCoefficient: 11, jitter: true });
    expect(result.error && formatIssues(result.error).map((issue) => issue.path)).toEqual([
      'maxAttempts',
      'backoffCoefficient',
      '',
    ]);
  });
});

describe('when', () => {
  const guarded = (when: unknown) => withSteps({ ...emailStep('a'), when });

  it('accepts each operator with a fitting value', () => {
    for (const when of [
      { path: 'trigger.body.plan', op: 'exists' },
      { path: 'trigger.body.plan', op: 'exists', value: false },
      { path: 'trigger.body.plan', op: 'eq', value: 'free' },
      { path: 'trigger.body.plan', op: 'neq', value: null },
      { path: 'trigger.query.tag', op: 'in', value: ['a', 'b'] },
      { path: 'trigger.body.items.0.qty', op: 'gte', value: 2 },
    ]) {
      expect(workflowDefinitionSchema.safeParse(guarded(when)).success).toBe(true);
    }
  });

  it('names the missing or wrong value for the operator', () => {
    const cases: [unknown, string][] = [
      [{ path: 'trigger.body.plan', op: 'eq' }, 'value is required when op is "eq"'],
      [{ path: 'trigger.body.plan', op: 'in', value: 'free' }, 'value must be an array when op is "in"'],
      [{ path: 'trigger.body.n', op: 'gt', value: {} }, 'value must be a number or a string when op is "gt"'],
      [
        { path: 'trigger.body.n', op: 'exists', value: 'yes' },
        'value must be true or false (or left out) when op is "exists"',
      ],
    ];
    for (const [when, message] of cases) {
      expect(issuesOf(guarded(when))).toEqual([{ path: 'steps[0] (id "a").when.value', message }]);
    }
  });

  it('rejects a malformed path and an unknown operator', () => {
    const issues = issuesOf(guarded({ path: '{{trigger.body.plan}}', op: 'matches', value: 'x' }));
    expect(issues).toEqual([
      { path: 'steps[0] (id "a").when.path', message: 'path must be a dotted path like "trigger.body.plan"' },
      {
        path: 'steps[0] (id "a").when.op',
        message: 'op must be one of: exists, eq, neq, in, gt, gte, lt, lte',
      },
    ]);
  });
});

describe('formatIssues', () => {
  it('names steps by index only when no input is given', () => {
    const result = stepsSchema.safeParse([{ id: 'wait', type: 'delay', params: { duration: '1w' } }]);
    expect(result.error && formatIssues(result.error)).toEqual([
      { path: '[0].params.duration', message: expect.stringMatching(/^duration must look like/) as string },
    ]);
  });

  it('says which required field is missing', () => {
    const issues = issuesOf(
      withSteps({ id: 'a', type: 'email', params: { text: 'Hi' } }, { id: 'b', type: 'delay' }),
    );
    expect(issues).toEqual([
      { path: 'steps[0] (id "a").params.to', message: '"to" is required' },
      { path: 'steps[0] (id "a").params.subject', message: '"subject" is required' },
      { path: 'steps[1] (id "b").params', message: '"params" is required' },
    ]);
  });
});
