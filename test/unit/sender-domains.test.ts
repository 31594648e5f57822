import { describe, expect, it } from 'vitest';
import { checkSenderDomains } from '../../src/api/services/workflow-service.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { workflowDefinitionSchema, type WorkflowDefinition } from '../../src/dsl/schema.js';
import { literalSenderDomain, senderDomain, senderNotAllowed } from '../../src/email/sender-domains.js';
import { AppError } from '../../src/errors.js';

describe('EMAIL_ALLOWED_FROM_DOMAINS', () => {
  it('defaults to the domain of EMAIL_FROM', () => {
    expect(loadConfig({}).email.allowedFromDomains).toEqual(['example.com']);
    expect(loadConfig({ EMAIL_FROM: 'News <hi@News.Example.org>' }).email.allowedFromDomains).toEqual([
      'news.example.org',
    ]);
  });

  it('reads a comma- or space-separated list, lower-cased', () => {
    const config = loadConfig({
      EMAIL_FROM: 'hi@example.com',
      EMAIL_ALLOWED_FROM_DOMAINS: 'Example.com, mail.example.org  other.io',
    });
    expect(config.email.allowedFromDomains).toEqual(['example.com', 'mail.example.org', 'other.io']);
  });

  it('refuses entries that are not domain names, and a list without the domain of EMAIL_FROM', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
      }
      return [];
    };
    expect(problemsOf({ EMAIL_ALLOWED_FROM_DOMAINS: 'example.com, @evil, *.example.org' })).toEqual([
      'EMAIL_ALLOWED_FROM_DOMAINS: must list domain names such as example.com or mail.example.com, got "@evil", "*.example.org"',
    ]);
    expect(problemsOf({ EMAIL_ALLOWED_FROM_DOMAINS: ' , ' })).toEqual([
      'EMAIL_ALLOWED_FROM_DOMAINS: must list domain names such as example.com or mail.example.com',
    ]);
    expect(problemsOf({ EMAIL_FROM: 'hi@example.com', EMAIL_ALLOWED_FROM_DOMAINS: 'example.org' })).toEqual([
      'EMAIL_ALLOWED_FROM_DOMAINS: must include the domain of EMAIL_FROM, the sender of every email step without its own from',
    ]);
  });
});

describe('sender domains', () => {
  it('reads the domain of one mailbox', () => {
    expect(senderDomain('Team <team@Example.COM>')).toBe('example.com');
    expect(senderDomain(' team@example.com ')).toBe('example.com');
    expect(senderDomain('a@evil.example, Team <team@example.com>')).toBeUndefined();
  });

  it('knows the domain of a from template when its text fixes it', () => {
    expect(literalSenderDomain('Team <team@example.com>')).toBe('example.com');
    expect(literalSenderDomain('{{trigger.body.team}} team <news@example.com>')).toBe('example.com');
    expect(literalSenderDomain('{{trigger.body.from}}')).toBeUndefined();
    expect(literalSenderDomain('news@{{trigger.body.domain}}')).toBeUndefined();
    expect(literalSenderDomain('Team <{{trigger.body.user}}@example.com>')).toBeUndefined();
  });

  it('allows exact domains only', () => {
    expect(senderNotAllowed('hi@example.com', ['example.com'])).toBeUndefined();
    expect(senderNotAllowed('hi@mail.example.com', ['example.com'])).toContain('sends from mail.example.com');
    expect(senderNotAllowed('hi@notexample.com', ['example.com'])).toContain('sends from notexample.com');
  });
});

describe('checkSenderDomains (on save)', () => {
  const definition = (from: string): WorkflowDefinition =>
    workflowDefinitionSchema.parse({
      name: 'x',
      steps: [
        { id: 'ok', type: 'email', params: { to: 'a@example.com', subject: 'Hi', text: 'x' } },
        { id: 'spoof', type: 'email', params: { to: 'a@example.com', subject: 'Hi', text: 'x', from } },
      ],
    });

  it('refuses a literal from outside the allowed domains with a 400 naming the field and the domains', () => {
    let caught: unknown;
    try {
      checkSenderDomains(definition('CEO <ceo@bank.example>'), ['example.com', 'example.org']);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    const error = caught as AppError;
    expect(error.statusCode).toBe(400);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toEqual([
      {
        path: 'body.steps[1] (id "spoof").params.from',
        message:
          '"CEO <ceo@bank.example>" sends from bank.example, which this Hookflow does not send from; allowed ' +
          'sender domains: example.com, example.org',
      },
    ]);
  });

  it('accepts allowed and templated senders (those are checked at send)', () => {
    for (const from of [
      'Team <team@EXAMPLE.com>',
      '{{trigger.body.from}}',
      '{{trigger.body.n}} <n@example.org>',
    ]) {
      expect(() => checkSenderDomains(definition(from), ['example.com', 'example.org'])).not.toThrow();
    }
    expect(() =>
      checkSenderDomains(definition('{{trigger.body.n}} <n@bank.example>'), ['example.com']),
    ).toThrow(AppError);
  });
});
