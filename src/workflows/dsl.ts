import { z } from 'zod';
import {
  extractReferences,
  isEmailAddress,
  isMailbox,
  MAX_RECIPIENTS,
  parseTemplate,
  splitAddressList,
} from './template.js';

/*
 * The step list, DSL version 1 (DESIGN §2). One schema validates a definition on save, types the jsonb column
 * and types the workflow input, so a definition that passed here is exactly what a worker interprets.
 * Workflow code imports this file: it may import only zod and its sibling template.ts (no Node built-ins, no
 * clock, no I/O). No schema transforms a value's shape, so a saved definition round-trips unchanged.
 */

/** Step ids name steps in history, output, logs and `steps.<id>.output` references. */
export const STEP_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const MAX_STEPS = 50;
/** Longest accepted string param, in characters (an html body is the usual big one). */
export const MAX_TEMPLATE_LENGTH = 100_000;

const STEP_TYPES = ['email', 'delay'] as const;

// ---------------------------------------------------------------------------------------------------------------
// Durations

const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_DURATION_MS = 365 * UNIT_MS.d;
const DURATION_FORMAT_MESSAGE = 'duration must look like "30s", "15m", "2h", "3d" or be milliseconds';

function durationToMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = DURATION_PATTERN.exec(value);
  if (!match?.[1] || !match[2]) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/**
 * Converts a validated duration to milliseconds; throws on anything durationSchema rejects (a definition that
 * reached a worker has been validated, so a throw here is a bug, not user input).
 */
export function parseDuration(value: string | number): number {
  const ms = durationToMs(value);
  if (ms === undefined) throw new Error(`${DURATION_FORMAT_MESSAGE}, got ${JSON.stringify(value)}`);
  return ms;
}

/** "2h 30m" style, for messages only. */
function formatMs(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  const units: [string, number][] = [
    ['d', UNIT_MS.d],
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
  ];
  let rest = Math.round(ms / 1_000) * 1_000;
  const out: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return out.join(' ');
}

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
// Messages for unknown fields: zod's default ("Unrecognized key") does not say what is allowed.

function strictObject<Shape extends z.core.$ZodLooseShape>(
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
// Retry

/** Resend keeps an idempotency key for 24 h: every retry must happen inside that window. */
const RETRY_BUDGET_LIMIT_MS = 24 * UNIT_MS.h;

/** Email steps: about 4 minutes of backoff over 8 attempts, far inside the 24 h idempotency window. */
export const DEFAULT_EMAIL_RETRY = {
  maxAttempts: 8,
  initialInterval: '2s',
  backoffCoefficient: 2,
  maxInterval: '5m',
} as const satisfies Required<RetryPolicy>;

/**
 * Temporal retry policy of an action step; every field is optional and falls back to the step type's default
 * (DEFAULT_EMAIL_RETRY for email).
 */
export const retrySchema = strictObject({
  /** Attempts in total, the first one included. */
  maxAttempts: z.number().int().min(1).max(100).optional(),
  /** Wait before the first retry. */
  initialInterval: durationSchema.optional(),
  /** Each wait is the previous one times this. */
  backoffCoefficient: z.number().min(1).max(10).optional(),
  /** Cap of a single wait. */
  maxInterval: durationSchema.optional(),
}).superRefine((retry, ctx) => {
  const policy = { ...DEFAULT_EMAIL_RETRY, ...definedOnly(retry) };
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
  const total = retryTotalBudgetMs(retry);
  if (total > RETRY_BUDGET_LIMIT_MS) {
    ctx.addIssue({
      code: 'custom',
      message:
        `this retry policy can wait ${formatMs(total)} in total between attempts; it must stay within 24 h, ` +
        "the email provider's idempotency window (after it a retry could send the email twice): " +
        'lower maxAttempts or maxInterval',
    });
  }
});
/** See retrySchema. */
export type RetryPolicy = z.output<typeof retrySchema>;

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Worst-case total of the waits between attempts of `retry` merged with DEFAULT_EMAIL_RETRY, in milliseconds:
 * the sum over the `maxAttempts - 1` retries of `min(initialInterval * backoffCoefficient^n, maxInterval)`.
 * Time spent inside attempts is not included.
 */
export function retryTotalBudgetMs(retry: RetryPolicy = {}): number {
  const policy = { ...DEFAULT_EMAIL_RETRY, ...definedOnly(retry) };
  const max = parseDuration(policy.maxInterval);
  let interval = parseDuration(policy.initialInterval);
  let total = 0;
  for (let retryNumber = 1; retryNumber < policy.maxAttempts; retryNumber++) {
    total += Math.min(interval, max);
    interval *= policy.backoffCoefficient;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// References: what `{{path}}` and `when.path` may read

const PATH_PATTERN = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;
const REFERENCE_HELP =
  'a path starts with trigger.body, trigger.query, trigger.headers, steps.<id>.output, run.id or workflow.name';

/** Catches typos like `{{body.email}}` on save: such a reference would silently render '' in every run. */
function checkReferenceShape(path: readonly string[]): string | undefined {
  const [root, second, third] = path;
  const shown = path.join('.');
  switch (root) {
    case 'trigger':
      if (second === 'body' || second === 'query' || second === 'headers') return undefined;
      break;
    case 'steps':
      if (second !== undefined && third === 'output') return undefined;
      break;
    case 'run':
      if (second === 'id' && path.length === 2) return undefined;
      break;
    case 'workflow':
      if (second === 'name' && path.length === 2) return undefined;
      break;
  }
  return `unknown reference "${shown}": ${REFERENCE_HELP}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Template strings

const LINE_BREAK = /[\r\n]/;

interface TemplateRules {
  /** Header fields never contain a line break, not even in their literal text. */
  header?: boolean;
  /** How the literal (placeholder-free) parts must look, checked on save. */
  addresses?: 'list' | 'mailbox';
}

/**
 * A string param that may contain `{{path}}`. On save: its template syntax parses, its references have a known
 * shape, and the parts an author typed literally (no placeholder) are checked as addresses where that applies.
 */
function templateString(rules: TemplateRules = {}) {
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
        const problem = typeof part === 'string' ? undefined : checkReferenceShape(part.path);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }
      if (rules.header && LINE_BREAK.test(source)) {
        ctx.addIssue({
          code: 'custom',
          message: 'must not contain a line break (CR/LF): it is an email header',
        });
      }
      if (rules.addresses === 'mailbox') {
        const from = source.trim();
        if (!from.includes('{{') && !isMailbox(from)) {
          ctx.addIssue({
            code: 'custom',
            message: `${JSON.stringify(source)} is not a valid sender: expected "addr@example.com" or "Name <addr@example.com>"`,
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

/** One or more recipients: a string (comma-separated addresses allowed) or a list of them. */
function recipients(field: string) {
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
// Steps

/**
 * Params of an `email` step. Every string is a template (`{{trigger.body.email}}`), rendered per run by
 * renderEmail: `html` with HTML escaping, header fields (`to`, `from`, `replyTo`, `cc`, `bcc`, `subject`)
 * without line breaks. At least one of `html`/`text` is required.
 */
export const emailParamsSchema = strictObject({
  to: recipients('to'),
  subject: templateString({ header: true }),
  html: templateString().optional(),
  text: templateString().optional(),
  /** Defaults to the configured EMAIL_FROM. */
  from: templateString({ header: true, addresses: 'mailbox' }).optional(),
  replyTo: recipients('replyTo').optional(),
  cc: recipients('cc').optional(),
  bcc: recipients('bcc').optional(),
}).superRefine(
  (params, ctx) => {
    // Runs even when other fields failed (`when`), so the author sees this together with the rest.
    if (typeof params !== 'object' || params === null) return;
    const given = params as Record<string, unknown>;
    if (given.html === undefined && given.text === undefined) {
      ctx.addIssue({ code: 'custom', message: 'give at least one of "html" or "text"' });
    }
  },
  { when: () => true },
);
/** See emailParamsSchema. */
export type EmailParams = z.output<typeof emailParamsSchema>;

/** Params of a `delay` step: a durable Temporal timer. */
export const delayParamsSchema = strictObject({ duration: durationSchema });
/** See delayParamsSchema. */
export type DelayParams = z.output<typeof delayParamsSchema>;

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

const stepId = z
  .string()
  .regex(
    STEP_ID_PATTERN,
    'id must be 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
  );

/** Sends one email through the provider; retried per `retry`, never twice thanks to an idempotency key. */
export const emailStepSchema = strictObject({
  id: stepId,
  type: z.literal('email'),
  params: emailParamsSchema,
  when: whenSchema.optional(),
  retry: retrySchema.optional(),
});
/** See emailStepSchema. */
export type EmailStep = z.output<typeof emailStepSchema>;

/** Waits for `params.duration` on a durable timer. A timer does not fail, so it has no `retry`. */
export const delayStepSchema = strictObject(
  {
    id: stepId,
    type: z.literal('delay'),
    params: delayParamsSchema,
    when: whenSchema.optional(),
  },
  (keys) =>
    keys.includes('retry')
      ? '"retry" is not allowed on a delay step: only email steps are retried'
      : undefined,
);
/** See delayStepSchema. */
export type DelayStep = z.output<typeof delayStepSchema>;

/** One step; `type` selects the shape. An unknown `type` is rejected on save, so it never reaches a worker. */
export const stepSchema = z.discriminatedUnion('type', [emailStepSchema, delayStepSchema], {
  error: (issue) => {
    if (issue.code !== 'invalid_union' || !('discriminator' in issue)) return undefined;
    const expected = `expected one of: ${STEP_TYPES.join(', ')}`;
    const input: unknown = issue.input;
    const type =
      typeof input === 'object' && input !== null ? (input as Record<string, unknown>).type : undefined;
    if (type === undefined) return `step type is required; ${expected}`;
    return `unknown step type ${JSON.stringify(type)}; ${expected}`;
  },
});
/** See stepSchema. */
export type Step = z.output<typeof stepSchema>;

/** Where a step reads another step's output (`steps.<id>.output`), by template or by `when.path`. */
function stepReferences(step: Record<string, unknown>): { path: (string | number)[]; ref: string[] }[] {
  const found: { path: (string | number)[]; ref: string[] }[] = [];
  const params = step.params;
  if (typeof params === 'object' && params !== null) {
    for (const [field, value] of Object.entries(params)) {
      const templates = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
      templates.forEach((template: unknown, index) => {
        if (typeof template !== 'string') return;
        const path = typeof value === 'string' ? ['params', field] : ['params', field, index];
        for (const ref of extractReferences(template)) found.push({ path, ref });
      });
    }
  }
  const when = step.when;
  if (typeof when === 'object' && when !== null) {
    const whenPath = (when as Record<string, unknown>).path;
    if (typeof whenPath === 'string') found.push({ path: ['when', 'path'], ref: whenPath.split('.') });
  }
  return found.filter(({ ref }) => ref[0] === 'steps' && ref[1] !== undefined);
}

/**
 * The step list: 1 to MAX_STEPS steps with unique ids, where `steps.<id>.output` may only name an earlier step
 * (a later step has not run yet, so the reference would always be empty).
 */
export const stepsSchema = z
  .array(stepSchema, { error: 'steps must be a list of steps' })
  .min(1, 'a workflow needs at least one step')
  .max(MAX_STEPS, `a workflow can have at most ${MAX_STEPS} steps`)
  .superRefine(
    (steps, ctx) => {
      // Runs even when some step failed its own validation (`when`), so every problem shows up at once; the
      // values may then be unvalidated, hence the defensive reads.
      if (!Array.isArray(steps)) return;
      const ids = steps.map((step: unknown) =>
        typeof step === 'object' && step !== null && typeof (step as Record<string, unknown>).id === 'string'
          ? ((step as Record<string, unknown>).id as string)
          : undefined,
      );
      ids.forEach((id, index) => {
        if (id !== undefined && ids.indexOf(id) < index) {
          ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate step id "${id}"` });
        }
      });
      steps.forEach((step: unknown, index) => {
        if (typeof step !== 'object' || step === null) return;
        const self = ids[index] ?? `#${index}`;
        for (const { path, ref } of stepReferences(step as Record<string, unknown>)) {
          const target = ref[1] as string;
          const targetIndex = ids.indexOf(target);
          if (targetIndex !== -1 && targetIndex < index) continue;
          const shown = ref.join('.');
          const why =
            targetIndex === -1
              ? `there is no step "${target}"`
              : targetIndex === index
                ? 'a step cannot read its own output'
                : `step "${target}" runs after it`;
          ctx.addIssue({
            code: 'custom',
            path: [index, ...path],
            message: `step "${self}" refers to ${shown}, but ${why}; only earlier steps' output is available`,
          });
        }
      });
    },
    { when: () => true },
  );

// ---------------------------------------------------------------------------------------------------------------
// Workflow definition

/** What `POST`/`PUT /v1/workflows` accept and what is saved as one version of a workflow. */
export const workflowDefinitionSchema = strictObject({
  name: z.string().trim().min(1, 'name must not be empty').max(200, 'name must be at most 200 characters'),
  description: z.string().max(2000, 'description must be at most 2000 characters').default(''),
  /** A disabled workflow's webhook answers 409. */
  enabled: z.boolean().default(true),
  /** `standard-webhooks`: POST /hooks/:token requires a valid Standard Webhooks signature. */
  webhook: strictObject({
    signing: z.enum(['none', 'standard-webhooks'], {
      error: 'signing must be "none" or "standard-webhooks"',
    }),
  }).default({ signing: 'none' }),
  steps: stepsSchema,
});
/** A workflow definition as a client sends it (defaults not applied yet). */
export type WorkflowDefinitionInput = z.input<typeof workflowDefinitionSchema>;
/** A validated workflow definition, defaults applied. */
export type WorkflowDefinition = z.output<typeof workflowDefinitionSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Issues for people

/** One validation problem: `path` names the step by index and id, e.g. `steps[1] (id "wait").params.duration`. */
export interface FormattedIssue {
  path: string;
  message: string;
}

/**
 * Turns zod issues into `{ path, message }` for API error details. Pass the validated `input` to name steps by
 * id as well as by index, and to say "is required" for a missing field.
 */
export function formatIssues(
  error: { issues: readonly z.core.$ZodIssue[] },
  input?: unknown,
): FormattedIssue[] {
  return error.issues.map((issue) => {
    let path = '';
    let node: unknown = input;
    for (const segment of issue.path) {
      const child = readChild(node, segment);
      if (typeof segment === 'number') {
        path += `[${segment}]`;
        const id = readChild(child, 'id');
        if (typeof id === 'string' && id.length <= 100) path += ` (id ${JSON.stringify(id)})`;
      } else {
        path += `${path === '' ? '' : '.'}${String(segment)}`;
      }
      node = child;
    }
    const missing =
      issue.code === 'invalid_type' &&
      (input !== undefined ? node === undefined : issue.message.endsWith('received undefined'));
    const last = issue.path.at(-1);
    const message = missing
      ? typeof last === 'string'
        ? `"${last}" is required`
        : 'is required'
      : issue.message;
    return { path, message };
  });
}

function readChild(node: unknown, key: PropertyKey): unknown {
  if (typeof node !== 'object' || node === null || typeof key === 'symbol') return undefined;
  return Object.prototype.hasOwnProperty.call(node, key) ? (node as Record<string, unknown>)[key] : undefined;
}
