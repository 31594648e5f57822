import type { EmailParams } from '../dsl/email-step.js';

/*
 * `{{path}}` templating (DESIGN §2). This module runs inside Temporal workflow code, so it must stay pure and
 * deterministic: no I/O, no clock, no randomness, no Node built-ins, no imports besides its sibling DSL types.
 * There are deliberately no helpers, conditionals or expressions: a template can only read a value.
 */

/** One piece of a parsed template: literal text, or a reference to a value of the run context. */
export type TemplatePart = string | { path: string[] };

export type ParseTemplateResult = { ok: true; parts: TemplatePart[] } | { ok: false; error: string };

/**
 * What `{{path}}` reads from while a run executes. It is built by the workflow from its input, so it crosses
 * the API → Temporal → worker boundary: `trigger.headers` is already reduced to the allow-list (never
 * `authorization` or signature headers).
 */
export interface RenderContext {
  trigger: { body: unknown; query: Record<string, string | string[]>; headers: Record<string, string> };
  /** Every step that finished so far, by step id: its output and its final status (`steps.<id>.status`). */
  steps: Record<string, { output: unknown; status?: string }>;
  run: { id: string };
  workflow: { name: string };
}

/**
 * - `text`: values inserted as they are.
 * - `html`: inserted values are HTML-escaped; the template's own markup is kept (the author wrote it).
 * - `header`: the result must not contain CR or LF (header injection).
 */
export type RenderMode = 'text' | 'html' | 'header';

/**
 * Most characters one rendered field may have. Rendered values travel in Temporal history, whose payloads are
 * capped at 2 MiB per event: a bigger render would get the run terminated by the server instead of failing its
 * step with a message.
 */
export const MAX_RENDERED_LENGTH = 512 * 1024;

function tooLong(field: string, maxLength: number): TemplateError {
  return new TemplateError(
    field,
    `renders more than ${maxLength} characters; shorten the template or the values it repeats`,
  );
}

/** A template that cannot be rendered into a valid email. Permanent: retrying renders the same thing again. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';

  /**
   * @param field - the email field, e.g. `subject` or `to`; it prefixes the message.
   * @param problem - what is wrong, in words a workflow author can act on.
   */
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}

/** A dotted path: `trigger.body.items.0.sku`. Numeric segments index arrays. */
const PATH_PATTERN = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/**
 * Splits a template into literal text and `{{path}}` references. Whitespace inside the braces is allowed
 * (`{{ trigger.body.name }}`). A lone `}}` is literal text (CSS in an html body has plenty); an unclosed `{{`
 * or a brace pair that does not hold a plain dotted path is an error naming its position (1-based).
 */
export function parseTemplate(source: string): ParseTemplateResult {
  const parts: TemplatePart[] = [];
  let cursor = 0;
  for (;;) {
    const open = source.indexOf('{{', cursor);
    if (open === -1) break;
    const close = source.indexOf('}}', open + 2);
    if (close === -1) {
      return { ok: false, error: `unclosed "{{" at character ${open + 1}` };
    }
    const inner = source.slice(open + 2, close).trim();
    if (inner === '') {
      return { ok: false, error: `empty reference "{{}}" at character ${open + 1}` };
    }
    if (!PATH_PATTERN.test(inner)) {
      return {
        ok: false,
        error:
          `invalid reference "{{${inner}}}" at character ${open + 1}: ` +
          'expected a dotted path like trigger.body.name (no expressions, helpers or spaces)',
      };
    }
    if (open > cursor) parts.push(source.slice(cursor, open));
    parts.push({ path: inner.split('.') });
    cursor = close + 2;
  }
  if (cursor < source.length) parts.push(source.slice(cursor));
  return { ok: true, parts };
}

/** Every path a template references, in order; empty when the template does not parse. */
export function extractReferences(source: string): string[][] {
  const parsed = parseTemplate(source);
  if (!parsed.ok) return [];
  return parsed.parts.flatMap((part) => (typeof part === 'string' ? [] : [part.path]));
}

/** Segments that would reach an object's prototype machinery instead of its data. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Reads `path` from `context`, following own properties only: a webhook body is attacker-controlled, so
 * `{{trigger.body.__proto__.x}}` or `constructor` must never reach `Object.prototype` (even when JSON.parse
 * made `__proto__` an own key). Returns undefined for anything that is not there.
 */
export function lookupPath(context: unknown, path: readonly string[]): unknown {
  let current: unknown = context;
  for (const segment of path) {
    if (FORBIDDEN_SEGMENTS.has(segment)) return undefined;
    if (typeof current !== 'object' || current === null) return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** How a value renders into text: '' for missing, strings as they are, objects and arrays as JSON. */
export function stringifyValue(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value);
    } catch {
      // Cycles cannot come from JSON input; render nothing rather than fail a send over a debug value.
      return '';
    }
  }
  return '';
}

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => HTML_ENTITIES[char] ?? char);
}

/**
 * Renders `source` against `context`. A missing value (undefined or null) renders as ''; strings as they are;
 * numbers and booleans with String(); objects and arrays as JSON. Throws TemplateError (naming `field`) when
 * the template does not parse or, in `header` mode, when the result contains CR or LF.
 */
export function renderTemplate(
  source: string,
  context: unknown,
  mode: RenderMode,
  field = 'template',
  maxLength = Infinity,
): string {
  const parsed = parseTemplate(source);
  if (!parsed.ok) throw new TemplateError(field, `invalid template: ${parsed.error}`);
  let result = '';
  for (const part of parsed.parts) {
    if (typeof part === 'string') {
      result += part;
    } else {
      const value = stringifyValue(lookupPath(context, part.path));
      result += mode === 'html' ? escapeHtml(value) : value;
    }
    // Checked as it grows: a template repeating a large value thousands of times must not exhaust the worker.
    if (result.length > maxLength) throw tooLong(field, maxLength);
  }
  if (mode === 'header' && /[\r\n]/.test(result)) {
    throw new TemplateError(
      field,
      'rendered value contains a line break (CR/LF), which is not allowed in an email header',
    );
  }
  return result;
}

// Deliberately simple and strict: dot-atom local part, at least two domain labels, an alphabetic (or punycode)
// top-level domain. No quoted local parts, comments, IP literals or spaces; they are legal but never needed here.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`~-]+";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const EMAIL_PATTERN = new RegExp(
  `^${ATOM}(?:\\.${ATOM})*@(?:${LABEL}\\.)+(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$`,
);

/** A bare address, `local@domain.tld`: what `to`, `cc`, `bcc` and `replyTo` accept. */
export function isEmailAddress(value: string): boolean {
  const at = value.lastIndexOf('@');
  return value.length <= 254 && at > 0 && at <= 64 && EMAIL_PATTERN.test(value);
}

/** What `from` accepts: a bare address or `Display Name <local@domain.tld>`. */
export function isMailbox(value: string): boolean {
  if (isEmailAddress(value)) return true;
  const match = /^([^<>\r\n]*)<([^<>]+)>$/.exec(value);
  return match?.[2] !== undefined && isEmailAddress(match[2]);
}

/** Recipient fields may hold several addresses separated by commas, both in the template and in a value. */
export function splitAddressList(value: string): string[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** Resend accepts at most 50 recipients per field. */
export const MAX_RECIPIENTS = 50;

/** An email ready for the send activity; the activity fills in the configured `from` when it is absent. */
export interface RenderedEmail {
  from?: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  replyTo?: string[];
  cc?: string[];
  bcc?: string[];
}

type AddressField = 'to' | 'cc' | 'bcc' | 'replyTo';

function renderAddressList(
  field: AddressField,
  templates: string | string[],
  context: RenderContext,
  maxLength: number,
): string[] {
  const addresses: string[] = [];
  for (const template of typeof templates === 'string' ? [templates] : templates) {
    for (const address of splitAddressList(renderTemplate(template, context, 'header', field, maxLength))) {
      if (!isEmailAddress(address)) {
        throw new TemplateError(
          field,
          `${JSON.stringify(template)} rendered ${JSON.stringify(address)}, which is not a valid email address`,
        );
      }
      addresses.push(address);
    }
  }
  if (addresses.length > MAX_RECIPIENTS) {
    throw new TemplateError(
      field,
      `rendered ${addresses.length} addresses; at most ${MAX_RECIPIENTS} are allowed`,
    );
  }
  return addresses;
}

/**
 * Renders an email step's params for one run: `html` in html mode, `text` as text, every header field
 * (`from`, `to`, `cc`, `bcc`, `replyTo`, `subject`) in header mode. Recipients are split on commas and each
 * must be a valid address. Throws TemplateError naming the field and the template at fault; callers should
 * fail the step without retrying, since the same input renders the same result.
 *
 * @param options.from - used when the step has no `from`; left out, the send activity applies its own.
 * @param options.maxLength - most characters any one field may render to (no limit when left out).
 */
export function renderEmail(
  params: EmailParams,
  context: RenderContext,
  options: { from?: string | undefined; maxLength?: number } = {},
): RenderedEmail {
  const maxLength = options.maxLength ?? Infinity;
  const to = renderAddressList('to', params.to, context, maxLength);
  if (to.length === 0) {
    throw new TemplateError(
      'to',
      `${JSON.stringify(params.to)} rendered no recipient (a missing value renders as an empty string)`,
    );
  }
  const email: RenderedEmail = {
    to,
    subject: renderTemplate(params.subject, context, 'header', 'subject', maxLength),
  };

  const fromTemplate = params.from ?? options.from;
  if (fromTemplate !== undefined) {
    const from = renderTemplate(fromTemplate, context, 'header', 'from', maxLength).trim();
    if (!isMailbox(from)) {
      throw new TemplateError(
        'from',
        `${JSON.stringify(fromTemplate)} rendered ${JSON.stringify(from)}, which is not a valid sender ` +
          '(expected "addr@example.com" or "Name <addr@example.com>")',
      );
    }
    email.from = from;
  }
  if (params.html !== undefined) email.html = renderTemplate(params.html, context, 'html', 'html', maxLength);
  if (params.text !== undefined) email.text = renderTemplate(params.text, context, 'text', 'text', maxLength);

  // An optional recipient field that renders empty (its value is missing in this run) is simply left out.
  for (const field of ['cc', 'bcc', 'replyTo'] as const) {
    const templates = params[field];
    if (templates === undefined) continue;
    const addresses = renderAddressList(field, templates, context, maxLength);
    if (addresses.length > 0) email[field] = addresses;
  }
  return email;
}
