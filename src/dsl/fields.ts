import { z } from 'zod';
import {
  DURATION_FORMAT_MESSAGE,
  durationToMs,
  formatMs,
  MAX_DURATION_MS,
  UNIT_MS,
} from '../workflows/durations.js';
import { resolveRetry, retryTotalBudgetMs, type RetryPolicy } from '../workflows/retry.js';
import { SECRET_NAME_PATTERN, SECRET_NAME_RULE } from '../secrets/names.js';
import {
  headerCharacterProblem,
  isEmailAddress,
  mailboxAddress,
  MAX_RECIPIENTS,
  parseTemplate,
  splitAddressList,
} from '../workflows/template.js';

/*
 * Building blocks of the DSL's zod schemas (DESIGN §2, §7): durations, retry policies, template strings, `when`
 * guards and step ids, each with messages that say what is allowed. No schema transforms a value's shape, so a
 * saved definition round-trips unchanged. API side only: workflow code never imports zod.
 */

/** Step ids name steps in history, output, logs and `steps.<id>.output` references. */
export const STEP_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Longest accepted string param, in characters (an html body is the usual big one). */
export const MAX_TEMPLATE_LENGTH = 100_000;

// ---------------------------------------------------------------------------------------------------------------
// Messages for unknown fields: zod's default ("Unrecognized key") does not say what is allowed.

export function strictObject<Shape extends z.core.$ZodLooseShape>(
  shape: Shape,
  /** A more specific message for some unknown keys, when there is one. */
  explain: (keys: string[]) => string | undefined = () => undefined,
) {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const { keys } = issue;
      const listed = keys.map((key) => `"${key}"`).join(', ');
      return explain(keys) ?? `unknown field${keys.length > 1 ? 's' : ''} ${listed}; allowed: ${allowed}`;
    },
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Durations

/**
 * A duration: `"500ms"`, `"30s"`, `"15m"`, `"2h"`, `"3d"` or a non-negative integer of milliseconds, at most
 * 365 days. The value is kept as written (use parseDuration to get milliseconds).
 */
export const durationSchema = z
  .union([z.string(), z.number()], {
    error: (issue) => (issue.input === undefined ? '"duration" is required' : DURATION_FORMAT_MESSAGE),
  })
  .superRefine((value, ctx) => {
    const ms = durationToMs(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${DURATION_FORMAT_MESSAGE}, got ${JSON.stringify(value)}` });
    } else if (ms > MAX_DURATION_MS) {
      ctx.addIssue({
        code: 'custom',
        message: `duration must be at most 365 days, got ${JSON.stringify(value)}`,
      });
    }
  });
/** See durationSchema. */
export type Duration = z.output<typeof durationSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Retry

/**
 * Every retry must happen inside this window: action steps' activities end after 23 h (their schedule-to-close
 * timeout), inside the 24 h for which Resend keeps an idempotency key.
 */
const RETRY_BUDGET_LIMIT_MS = 23 * UNIT_MS.h;

/**
 * Temporal retry policy of an action step; every field is optional and falls back to `defaults`, the step type's
 * own (DEFAULT_EMAIL_RETRY for email).
 */
export function retrySchema(defaults: Required<RetryPolicy>) {
  return strictObject({
    /** Attempts in total, the first one included. */
    maxAttempts: z.number().int().min(1).max(100).optional(),
    /** Wait before the first retry. */
    initialInterval: durationSchema.optional(),
    /** Each wait is the previous one times this. */
    backoffCoefficient: z.number().min(1).max(10).optional(),
    /** Cap of a single wait. */
    maxInterval: durationSchema.optional(),
  }).superRefine((retry, ctx) => {
    const policy = resolveRetry(retry, defaults);
    const initial = durationToMs(policy.initialInterval);
    const max = durationToMs(policy.maxInterval);
    // Malformed durations were already reported by their own schema.
    if (initial === undefined || max === undefined) return;
    const isDefault = (key: keyof RetryPolicy) => (retry[key] === undefined ? ', the default' : '');
    if (initial === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['initialInterval'],
        message: 'initialInterval must be greater than 0',
      });
      return;
    }
    if (max < initial) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxInterval'],
        message:
          `maxInterval (${formatMs(max)}${isDefault('maxInterval')}) must be at least ` +
          `initialInterval (${formatMs(initial)}${isDefault('initialInterval')})`,
      });
      return;
    }
    const total = retryTotalBudgetMs(retry, defaults);
    if (total > RETRY_BUDGET_LIMIT_MS) {
      ctx.addIssue({
        code: 'custom',
        message:
          `this retry policy can wait ${formatMs(total)} in total between attempts; it must stay within 23 h ` +
          "(a step's retries end after 23 h, inside the email provider's 24 h idempotency window after which a " +
          'retry could send twice): lower maxAttempts or maxInterval',
      });
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// References: what `{{path}}` and `when.path` may read

export const PATH_PATTERN = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const REFERENCE_HELP =
  'a path starts with trigger.body, trigger.query, trigger.headers, steps.<id>.output, steps.<id>.status, ' +
  'run.id or workflow.name';

export function checkReferenceShape(
  path: readonly string[],
  options: { secrets?: boolean } = {},
): string | undefined {
  const [root, second, third] = path;
  const shown = path.join('.');
  switch (root) {
    case 'trigger':
      if (second === 'body' || second === 'query' || second === 'headers') return undefined;
      break;
    case 'steps':
      if (second !== undefined && third === 'output') return undefined;
      if (second !== undefined && third === 'status' && path.length === 3) return undefined;
      break;
    case 'run':
      if (second === 'id' && path.length === 2) return undefined;
      break;
    case 'workflow':
      if (second === 'name' && path.length === 2) return undefined;
      break;
    case 'secrets':
      // Substituted by the http activity at send time, so they are never part of what workflow code renders.
      if (!options.secrets) {
        return `"${shown}": secrets can only be used in an http step's url, headers, query and body`;
      }
      if (path.length !== 2 || second === undefined || !SECRET_NAME_PATTERN.test(second)) {
        return `invalid secret reference "${shown}": expected {{secrets.NAME}}, NAME being ${SECRET_NAME_RULE}`;
      }
      return undefined;
  }
  return `unknown reference "${shown}": ${REFERENCE_HELP}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Template strings

interface TemplateRules {
  /**
   * Header fields never contain a control character (a line break, a tab, NUL...) or U+2028/U+2029, not even in
   * their literal text.
   */
  header?: boolean | 'http';
  /** How the literal (placeholder-free) parts must look, checked on save. */
  addresses?: 'list' | 'mailbox';
  /** `{{secrets.NAME}}` is allowed (http url, headers, query and body only). */
  secrets?: boolean;
}

/**
 * A string param that may contain `{{path}}`. On save: its template syntax parses, its references have a known
 * shape, and the parts an author typed literally (no placeholder) are checked as addresses where that applies.
 */
export function templateString(rules: TemplateRules = {}) {
  return z
    .string()
    .max(MAX_TEMPLATE_LENGTH, `must be at most ${MAX_TEMPLATE_LENGTH} characters`)
    .superRefine((source, ctx) => {
      const parsed = parseTemplate(source);
      if (!parsed.ok) {
        ctx.addIssue({ code: 'custom', message: `invalid template: ${parsed.error}` });
        return;
      }
      for (const part of parsed.parts) {
        const problem = typeof part === 'string' ? undefined : checkReferenceShape(part.path, rules);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
      const problem = rules.header ? headerCharacterProblem(source) : undefined;
      if (problem) {
        ctx.addIssue({
          code: 'custom',
          message: `must not contain ${problem}: it is ${rules.header === 'http' ? 'an HTTP header' : 'an email header'}`,
        });
      }
      if (rules.addresses === 'mailbox') {
        const from = source.trim();
        if (!from.includes('{{') && mailboxAddress(from) === undefined) {
          ctx.addIssue({
            code: 'custom',
            message:
              `${JSON.stringify(source)} is not a valid sender: expected "addr@example.com" or ` +
              '"Name <addr@example.com>" (a name holding , ; : @ ( ) [ ] goes in double quotes)',
          });
        }
      } else if (rules.addresses === 'list') {
        // A placeholder never contains a comma, so splitting the template on commas isolates the literal
        // addresses, which can be checked now instead of failing a run later.
        const entries = splitAddressList(source);
        if (entries.length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
        for (const entry of entries) {
          if (!entry.includes('{{') && !isEmailAddress(entry)) {
            ctx.addIssue({
              code: 'custom',
              message: `${JSON.stringify(entry)} is not a valid email address`,
            });
          }
        }
      }
    });
}

/**
 * One or more recipients: a string (comma-separated addresses allowed) or a list of them. Each placeholder renders
 * one address, or several when its value is an array of addresses; a comma in a value never makes a list.
 */
export function recipients(field: string) {
  const address = () => templateString({ header: true, addresses: 'list' });
  return z.union(
    [
      address(),
      z
        .array(address())
        .min(1, 'must list at least one address')
        .max(MAX_RECIPIENTS, `must list at most ${MAX_RECIPIENTS} addresses`),
    ],
    {
      error: (issue) =>
        issue.input === undefined
          ? `"${field}" is required`
          : `${field} must be an address or a list of addresses`,
    },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Guards and ids

const WHEN_OPS = ['exists', 'eq', 'neq', 'in', 'gt', 'gte', 'lt', 'lte'] as const;

/**
 * A guard: when it is false the step is `skipped`. It compares data, it never evaluates code.
 * - `exists`: `value` is optional, `true` (default) means "is present", `false` means "is absent";
 * - `eq`/`neq`: any JSON `value`; `in`: an array `value`; `gt`/`gte`/`lt`/`lte`: a number or string `value`.
 */
export const whenSchema = strictObject({
  /** Dotted path into the run context, e.g. `trigger.body.plan` (no braces). */
  path: z.string().superRefine((path, ctx) => {
    const problem = PATH_PATTERN.test(path)
      ? checkReferenceShape(path.split('.'))
      : 'path must be a dotted path like "trigger.body.plan"';
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  op: z.enum(WHEN_OPS, { error: `op must be one of: ${WHEN_OPS.join(', ')}` }),
  value: z.unknown().optional(),
}).superRefine((when, ctx) => {
  const { op, value } = when;
  const fail = (message: string) => ctx.addIssue({ code: 'custom', path: ['value'], message });
  switch (op) {
    case 'exists':
      if (value !== undefined && typeof value !== 'boolean') {
        fail('value must be true or false (or left out) when op is "exists"');
      }
      break;
    case 'eq':
    case 'neq':
      if (value === undefined) fail(`value is required when op is "${op}"`);
      break;
    case 'in':
      if (!Array.isArray(value)) fail('value must be an array when op is "in"');
      break;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (typeof value !== 'number' && typeof value !== 'string') {
        fail(`value must be a number or a string when op is "${op}"`);
      }
      break;
  }
});
/** See whenSchema. */
export type When = z.output<typeof whenSchema>;

export const stepId = z
  .string()
  .regex(
    STEP_ID_PATTERN,
    'id must be 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
  );

/**
 * What a step failing for good does to the run: `stop` (default) fails the run; `continue` marks the step
 * `failed` and goes on, so later steps can react to `steps.<id>.status`.
 */
export const onFailureSchema = z.enum(['stop', 'continue'], {
  error: 'onFailure must be "stop" or "continue"',
});
/** See onFailureSchema. */
export type OnFailure = z.output<typeof onFailureSchema>;

/**
 * The envelope every action step (one with an activity) shares: `id`, `type`, its `params`, `when`, `retry` over the
 * type's own defaults, and `onFailure`. A new step type calls this with its params schema.
 */
export function actionStepSchema<Type extends string, Params extends z.ZodType>(
  type: Type,
  params: Params,
  retryDefaults: Required<RetryPolicy>,
) {
  return strictObject({
    id: stepId,
    type: z.literal(type),
    params,
    when: whenSchema.optional(),
    retry: retrySchema(retryDefaults).optional(),
    onFailure: onFailureSchema.optional(),
  });
}
