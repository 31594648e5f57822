import type { HttpParams } from '../dsl/http-step.js';
import { parseDuration } from './durations.js';
import {
  headerValueProblem,
  lookupPath,
  MAX_RENDERED_LENGTH,
  parseTemplate,
  stringifyValue,
  TemplateError,
  type RenderContext,
  type RenderRules,
  type TemplatePart,
} from './template.js';

/*
 * Rendering of an http step into the request its activity sends. Pure (it runs in workflow code, so the request is
 * visible in the run's history) with one exception kept apart on purpose: `{{secrets.NAME}}` stays a placeholder,
 * `{ secret: NAME }`, that only the activity replaces at send time. Data from the trigger or earlier steps is
 * rendered here as plain values and can never become a secret placeholder, so a webhook body that contains the
 * text "{{secrets.X}}" is sent as that text.
 */

/** The methods an http step may use. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/**
 * Headers the HTTP client manages itself (framing, connection): a step may not set them, which the DSL checks on
 * save and the requester enforces again at send time.
 */
export const MANAGED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-connection',
]);

/** Text with the secrets it needs kept as placeholders. Adjacent literal pieces are merged. */
export type SecretText = (string | { secret: string })[];

/** A JSON body as rendered: its shape comes from the definition, values from the run, secrets from the activity. */
export type JsonBodyNode =
  /** A literal of the definition or a value read by a whole-value placeholder: sent as this JSON value. */
  | { kind: 'value'; value: unknown }
  /** A string template: joined (secrets substituted) into one JSON string. */
  | { kind: 'text'; text: SecretText }
  | { kind: 'array'; items: JsonBodyNode[] }
  | { kind: 'object'; entries: [string, JsonBodyNode][] };

/**
 * Input of the httpRequest activity. Kept in Temporal history: it holds secret placeholders, never values.
 * Fields are only ever added.
 */
export interface HttpRequestInput {
  /** The account whose secrets the placeholders name. */
  ownerId: string;
  stepId: string;
  method: HttpMethod;
  /** Values inserted into the url are URL-encoded, unless one placeholder is the whole url. */
  url: SecretText;
  headers: [string, SecretText][];
  query: [string, SecretText][];
  body: { kind: 'json'; node: JsonBodyNode } | { kind: 'text'; text: SecretText } | null;
  timeoutMs: number;
  followRedirects: boolean;
}

/** Output of the http step, readable by later steps as `steps.<id>.output`. */
export interface HttpStepOutput {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  /** Parsed JSON when the response says JSON, else text; at most 64 KiB of it. */
  body: unknown;
  /** True when the body was longer than 64 KiB and was cut. */
  truncated: boolean;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

type Mode = 'text' | 'header' | 'url';

/** Characters a request may still render; shared by all its fields, so the whole request stays bounded. */
interface Budget {
  left: number;
}

/**
 * Renders one template into SecretText; `field` names it in errors. In `header` mode a value must not bring a control
 * character or U+2028/U+2029 (only CR/LF with `legacy` rules); the literal text was checked on save.
 */
export function renderSecretText(
  source: string,
  context: RenderContext,
  mode: Mode,
  field: string,
  budget: Budget = { left: MAX_RENDERED_LENGTH },
  rules: RenderRules = 'current',
): SecretText {
  const parts = parsed(source, field);
  const whole = parts.length === 1;
  const text: SecretText = [];
  const push = (piece: string | { secret: string }) => {
    const last = text.at(-1);
    if (typeof piece === 'string' && typeof last === 'string') text[text.length - 1] = last + piece;
    else text.push(piece);
    if (typeof piece === 'string') spend(budget, piece.length, field);
  };
  for (const part of parts) {
    if (typeof part === 'string') {
      push(part);
      continue;
    }
    const secret = secretName(part);
    if (secret !== undefined) {
      push({ secret });
      continue;
    }
    const value = stringifyValue(lookupPath(context, part.path));
    const problem = mode === 'header' ? headerValueProblem(value, rules) : undefined;
    if (problem) {
      throw new TemplateError(
        field,
        `{{${part.path.join('.')}}} rendered ${problem}, not allowed in a header`,
      );
    }
    // A value inside a url is one component of it (it cannot add a path segment, a query or another host); a
    // placeholder that is the whole url is the url.
    push(mode === 'url' && !whole ? encodeURIComponent(value) : value);
  }
  return text;
}

/**
 * Renders an http step's params into the activity's input. Throws TemplateError naming the field at fault. `rules`:
 * `legacy` for runs that replay history from before `render-hardening` (header values then refuse CR/LF only).
 */
export function renderHttpRequest(
  params: HttpParams,
  context: RenderContext,
  ids: { ownerId: string; stepId: string; idempotencyKey: string },
  rules: RenderRules = 'current',
): HttpRequestInput {
  // One budget for the whole request: it travels in one history event, which Temporal caps at 2 MiB.
  const budget: Budget = { left: MAX_RENDERED_LENGTH };
  const url = renderSecretText(params.url, context, 'url', 'url', budget);
  const headers: [string, SecretText][] = Object.entries(params.headers ?? {}).map(([name, template]) => [
    name,
    renderSecretText(template, context, 'header', `headers.${name}`, budget, rules),
  ]);
  const query: [string, SecretText][] = Object.entries(params.query ?? {}).map(([name, template]) => [
    name,
    renderSecretText(template, context, 'text', `query.${name}`, budget),
  ]);
  const has = (name: string) => headers.some(([given]) => given.toLowerCase() === name);
  // A retried attempt carries the same key, so a server that honours it applies the request once.
  if (params.method !== 'GET' && params.method !== 'HEAD' && !has('idempotency-key')) {
    headers.push(['Idempotency-Key', [ids.idempotencyKey]]);
  }
  let body: HttpRequestInput['body'] = null;
  if (typeof params.body === 'string') {
    body = { kind: 'text', text: renderSecretText(params.body, context, 'text', 'body', budget) };
    if (!has('content-type')) headers.push(['Content-Type', ['text/plain; charset=utf-8']]);
  } else if (params.body !== undefined) {
    body = { kind: 'json', node: renderJson(params.body, context, 'body', budget) };
    if (!has('content-type')) headers.push(['Content-Type', ['application/json']]);
  }
  return {
    ownerId: ids.ownerId,
    stepId: ids.stepId,
    method: params.method,
    url,
    headers,
    query,
    body,
    timeoutMs: params.timeout === undefined ? DEFAULT_HTTP_TIMEOUT_MS : parseDuration(params.timeout),
    followRedirects: params.followRedirects ?? false,
  };
}

function renderJson(value: unknown, context: RenderContext, field: string, budget: Budget): JsonBodyNode {
  if (Array.isArray(value)) {
    return {
      kind: 'array',
      items: value.map((item, index) => renderJson(item, context, `${field}[${index}]`, budget)),
    };
  }
  if (typeof value === 'object' && value !== null) {
    return {
      kind: 'object',
      entries: Object.entries(value).map(([key, item]) => [
        key,
        renderJson(item, context, `${field}.${key}`, budget),
      ]),
    };
  }
  if (typeof value !== 'string') return { kind: 'value', value };
  const parts = parsed(value, field);
  const [only] = parts;
  // "{{trigger.body.items}}" alone keeps the value's JSON type (an array stays an array, null stays null); a
  // missing value renders as "".
  if (parts.length === 1 && typeof only === 'object' && secretName(only) === undefined) {
    const found = lookupPath(context, only.path);
    const node: JsonBodyNode = { kind: 'value', value: found === undefined ? '' : found };
    spend(budget, JSON.stringify(node.value)?.length ?? 0, field);
    return node;
  }
  return { kind: 'text', text: renderSecretText(value, context, 'text', field, budget) };
}

function spend(budget: Budget, length: number, field: string) {
  budget.left -= length;
  if (budget.left < 0) {
    throw new TemplateError(field, `the request renders more than ${MAX_RENDERED_LENGTH} characters`);
  }
}

function parsed(source: string, field: string): TemplatePart[] {
  const result = parseTemplate(source);
  if (!result.ok) throw new TemplateError(field, `invalid template: ${result.error}`);
  return result.parts;
}

function secretName(part: { path: string[] }): string | undefined {
  return part.path.length === 2 && part.path[0] === 'secrets' ? part.path[1] : undefined;
}
