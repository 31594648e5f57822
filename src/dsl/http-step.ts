import { z } from 'zod';
import { parseTemplate } from '../workflows/template.js';
import { durationToMs } from '../workflows/durations.js';
import { HTTP_METHODS, MANAGED_REQUEST_HEADERS } from '../workflows/http-request.js';
import { DEFAULT_HTTP_RETRY } from '../workflows/retry.js';
import { actionStepSchema, durationSchema, strictObject, templateString } from './fields.js';

/*
 * The `http` step (DESIGN §7): one request to another system's API. Every string is a template; `{{secrets.NAME}}`
 * is allowed in `url`, `headers`, `query` and `body` and is substituted by the activity at send time, so secret
 * values never enter workflow history. Its executor is src/workflows/http-step.ts, its activity
 * src/activities/http-request.ts.
 */

/** Longest accepted `timeout`: a single attempt never holds a worker slot longer than this. */
export const MAX_HTTP_TIMEOUT_MS = 60_000;
const MAX_FIELDS = 50;

/** RFC 9110 token characters: what a header name may be made of. */
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
const secretTemplate = () => templateString({ secrets: true });

const urlSchema = secretTemplate().superRefine((source, ctx) => {
  const parsed = parseTemplate(source);
  if (!parsed.ok) return; // reported by templateString
  const [first] = parsed.parts;
  // A url that starts with a placeholder (a whole url from the trigger) is checked when the step runs.
  if (typeof first === 'string' && !/^https?:\/\//i.test(first)) {
    ctx.addIssue({ code: 'custom', message: 'url must start with http:// or https://' });
    return;
  }
  if (parsed.parts.length === 1 && typeof first === 'string' && !URL.canParse(first)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(source)} is not a valid URL` });
  }
});

const headersSchema = z
  .record(z.string(), templateString({ secrets: true, header: 'http' }), {
    error: 'headers must be an object of header names to string values',
  })
  .superRefine((headers, ctx) => {
    const names = Object.keys(headers);
    if (names.length > MAX_FIELDS) {
      ctx.addIssue({ code: 'custom', message: `at most ${MAX_FIELDS} headers are allowed` });
    }
    const seen = new Set<string>();
    for (const name of names) {
      const lower = name.toLowerCase();
      if (seen.has(lower)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `header ${JSON.stringify(name)} is given twice (header names are case-insensitive)`,
        });
      }
      seen.add(lower);
      if (!HEADER_NAME_PATTERN.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `${JSON.stringify(name)} is not a valid header name`,
        });
      } else if (MANAGED_REQUEST_HEADERS.has(name.toLowerCase())) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `the ${name} header is set by Hookflow from the request itself; leave it out`,
        });
      }
    }
  });

const querySchema = z
  .record(z.string(), secretTemplate(), {
    error: 'query must be an object of parameter names to string values',
  })
  .refine(
    (query) => Object.keys(query).length <= MAX_FIELDS,
    `at most ${MAX_FIELDS} query parameters are allowed`,
  );

/**
 * A JSON body: any JSON object whose string values are templates. A string value that is exactly one placeholder
 * (`"{{trigger.body.items}}"`) keeps the referenced value's JSON type; any other string renders as text.
 */
const jsonBodySchema = z.record(z.string(), z.unknown()).superRefine((body, ctx) => {
  const leaf = secretTemplate();
  const visit = (value: unknown, path: (string | number)[]) => {
    if (typeof value === 'string') {
      const result = leaf.safeParse(value);
      for (const issue of result.error?.issues ?? []) {
        ctx.addIssue({ code: 'custom', path, message: issue.message });
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => visit(item, [...path, index]));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) visit(item, [...path, key]);
    }
  };
  visit(body, []);
});

/** Params of an `http` step. */
export const httpParamsSchema = strictObject({
  method: z.enum(HTTP_METHODS, {
    error: (issue) =>
      issue.input === undefined
        ? '"method" is required'
        : `method must be one of: ${HTTP_METHODS.join(', ')}`,
  }),
  /** http(s) only; every destination is checked against private and internal networks when the step runs. */
  url: urlSchema,
  headers: headersSchema.optional(),
  query: querySchema.optional(),
  /** An object is sent as JSON (content-type application/json unless a header says otherwise); a string as text. */
  body: z
    .union([secretTemplate(), jsonBodySchema], { error: 'body must be a JSON object or a string' })
    .optional(),
  /** One attempt's time limit, at most 60 s (default 10 s). */
  timeout: durationSchema
    .refine((value) => {
      const ms = durationToMs(value);
      return ms === undefined || (ms > 0 && ms <= MAX_HTTP_TIMEOUT_MS);
    }, 'timeout must be more than 0 and at most 60s')
    .optional(),
  /** Follow up to 5 redirects, each destination checked again (default false: a 3xx fails the step). */
  followRedirects: z.boolean().optional(),
}).superRefine((params, ctx) => {
  if (typeof params !== 'object' || params === null) return;
  const given = params as Record<string, unknown>;
  if ((given.method === 'GET' || given.method === 'HEAD') && given.body !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['body'], message: `a ${given.method} request has no body` });
  }
});
/** See httpParamsSchema. */
export type HttpParams = z.output<typeof httpParamsSchema>;

/** Calls another system's API; retried on network errors, timeouts, 408, 425, 429 and 5xx. */
export const httpStepSchema = actionStepSchema('http', httpParamsSchema, DEFAULT_HTTP_RETRY);
/** See httpStepSchema. */
export type HttpStep = z.output<typeof httpStepSchema>;
