import type { EmailParams } from '../dsl/email-step.js';
import { HtmlScanner, urlValueAllowed } from './html-context.js';

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
 * - `html`: inserted values are HTML-escaped; the template's own markup is kept (the author wrote it). A value that
 *   starts the value of a URL attribute (`href="{{url}}"`) must be an http(s) or mailto URL, else it renders `#`;
 *   inside a tag but outside quotes every character but letters and digits is written as a character reference.
 * - `header`: the result must not contain a control character, U+2028 or U+2029 (header injection).
 */
export type RenderMode = 'text' | 'html' | 'header';

/**
 * Which rules a render follows. `legacy` are those of the builds before the `render-hardening` patch, which runs
 * started by them keep while they replay (DESIGN §8): html values only escaped (no URL check), header fields refusing
 * CR/LF only, recipient values split on commas. Everything else renders with `current`.
 */
export type RenderRules = 'current' | 'legacy';

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
 * For a value inside a tag but outside quotes (`<td width={{w}}>`), where a space, `=` or `/` would start another
 * attribute: every character but ASCII letters and digits becomes a numeric character reference.
 */
function escapeUnquoted(value: string): string {
  return value.replace(/[^A-Za-z0-9]/gu, (char) => `&#x${char.codePointAt(0)?.toString(16)};`);
}

/** Renders `value` as what the html around it allows; see RenderMode. */
function htmlValue(scanner: HtmlScanner, value: string): string {
  const spot = scanner.spot();
  if (spot.kind === 'text') return escapeHtml(value);
  if (spot.kind === 'tag') return escapeUnquoted(value);
  // `#` keeps the email whole (a link that goes nowhere) while the value cannot pick the scheme.
  const kept = urlValueAllowed(spot.before, value) ? value : '#';
  return spot.quoted ? escapeHtml(kept) : escapeUnquoted(kept);
}

/**
 * The first character a header field must not hold, described for an error message; undefined when there is none.
 * Refused: every control character (C0, DEL, C1: a line break, but also tabs, NUL, NEL that some parsers split on)
 * and the Unicode line and paragraph separators.
 */
export function headerCharacterProblem(value: string): string | undefined {
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (code === 0x0d || code === 0x0a) return 'a line break (CR/LF)';
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `a control character (${codePoint(code)})`;
    if (code === 0x2028) return 'a line separator (U+2028)';
    if (code === 0x2029) return 'a paragraph separator (U+2029)';
  }
  return undefined;
}

const codePoint = (code: number) => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Renders `source` against `context`. A missing value (undefined or null) renders as ''; strings as they are;
 * numbers and booleans with String(); objects and arrays as JSON. Throws TemplateError (naming `field`) when
 * the template does not parse or, in `header` mode, when the result contains a character a header must not hold.
 */
export function renderTemplate(
  source: string,
  context: unknown,
  mode: RenderMode,
  field = 'template',
  maxLength = Infinity,
  rules: RenderRules = 'current',
): string {
  const parsed = parseTemplate(source);
  if (!parsed.ok) throw new TemplateError(field, `invalid template: ${parsed.error}`);
  const scanner = mode === 'html' && rules === 'current' ? new HtmlScanner() : undefined;
  let result = '';
  for (const part of parsed.parts) {
    let piece: string;
    if (typeof part === 'string') {
      piece = part;
    } else {
      const value = stringifyValue(lookupPath(context, part.path));
      piece = scanner ? htmlValue(scanner, value) : mode === 'html' ? escapeHtml(value) : value;
    }
    scanner?.feed(piece);
    result += piece;
    // Checked as it grows: a template repeating a large value thousands of times must not exhaust the worker.
    if (result.length > maxLength) throw tooLong(field, maxLength);
  }
  if (mode === 'header') checkHeader(result, field, rules);
  return result;
}

/** What makes `value` unfit for a header under `rules` (legacy: only CR/LF), or undefined. */
export function headerValueProblem(value: string, rules: RenderRules): string | undefined {
  if (rules === 'legacy') return /[\r\n]/.test(value) ? 'a line break (CR/LF)' : undefined;
  return headerCharacterProblem(value);
}

function checkHeader(value: string, field: string, rules: RenderRules) {
  const problem = headerValueProblem(value, rules);
  if (problem) {
    throw new TemplateError(
      field,
      `rendered value contains ${problem}, which is not allowed in an email header`,
    );
  }
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

/** What `from` accepted before the `render-hardening` patch: a bare address or `Display Name <local@domain.tld>`. */
export function isMailbox(value: string): boolean {
  if (isEmailAddress(value)) return true;
  const match = /^([^<>\r\n]*)<([^<>]+)>$/.exec(value);
  return match?.[2] !== undefined && isEmailAddress(match[2]);
}

/**
 * A display name that reads as one name: a quoted string without quotes or backslashes inside (`"Acme, Inc."`), or
 * words without the characters that separate or delimit addresses (`,;:@<>()[]\"`), so that `a@evil.example, Team
 * <team@ours.example>` is not taken for one sender whose address is ours.
 */
const DISPLAY_NAME = /^(?:"[^"\\]*"|[^,;:@<>()[\]\\"]*)$/;

/**
 * The address of one mailbox, `local@domain.tld` or `Display Name <local@domain.tld>`; undefined when `value` is not
 * exactly one (what `from` accepts).
 */
export function mailboxAddress(value: string): string | undefined {
  if (isEmailAddress(value)) return value;
  const match = /^([^<>]*)<([^<>]+)>$/.exec(value);
  const [, name, address] = match ?? [];
  if (name === undefined || address === undefined || !isEmailAddress(address)) return undefined;
  return DISPLAY_NAME.test(name.trim()) ? address : undefined;
}

/**
 * Splits a recipient field on commas. Today only the author's literal text is split (see renderEmail); runs started
 * before `render-hardening` split rendered values too.
 */
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

/** The recipient rendering of runs started before `render-hardening`: rendered values are split on commas too. */
function renderAddressListLegacy(
  field: AddressField,
  templates: string | string[],
  context: RenderContext,
  maxLength: number,
): string[] {
  const addresses: string[] = [];
  for (const template of typeof templates === 'string' ? [templates] : templates) {
    const rendered = renderTemplate(template, context, 'header', field, maxLength, 'legacy');
    for (const address of splitAddressList(rendered)) {
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
 * Splits a recipient template into its entries: on the commas of its literal text only, never on a value's.
 * `"ops@x.io, {{trigger.body.email}}"` has two entries; `"{{trigger.body.email}}"` has one, whatever it renders.
 */
function addressEntries(parts: readonly TemplatePart[]): TemplatePart[][] {
  const entries: TemplatePart[][] = [[]];
  for (const part of parts) {
    if (typeof part !== 'string') {
      entries[entries.length - 1]?.push(part);
      continue;
    }
    part.split(',').forEach((piece, index) => {
      if (index > 0) entries.push([]);
      if (piece !== '') entries[entries.length - 1]?.push(piece);
    });
  }
  return entries;
}

/** The placeholder an entry consists of (whitespace around it aside), if it is nothing else. */
function lonePlaceholder(entry: readonly TemplatePart[]): { path: string[] } | undefined {
  const placeholders = entry.filter((part) => typeof part !== 'string');
  const onlySpace = entry.every((part) => typeof part !== 'string' || part.trim() === '');
  return placeholders.length === 1 && onlySpace ? placeholders[0] : undefined;
}

/**
 * Renders a recipient field. Lists come from the definition only: the entries of its literal text (separated by
 * commas) or of its JSON array, and a placeholder alone in an entry whose value is an array of strings. Any other
 * placeholder renders exactly one address: a value holding a comma, or anything but one valid address, fails.
 * An entry that renders empty (a missing value) is left out.
 */
function renderAddressList(
  field: AddressField,
  templates: string | string[],
  context: RenderContext,
  maxLength: number,
): string[] {
  const addresses: string[] = [];
  let length = 0;
  const add = (template: string, rendered: string) => {
    length += rendered.length;
    if (length > maxLength) throw tooLong(field, maxLength);
    checkHeader(rendered, field, 'current');
    const address = rendered.trim();
    if (address === '') return;
    if (!isEmailAddress(address)) {
      const why = address.includes(',')
        ? 'which holds more than one address: a placeholder renders exactly one address; for several, list them in ' +
          'the step (comma-separated or as a JSON array) or give an array of addresses as the value'
        : 'which is not a valid email address';
      throw new TemplateError(
        field,
        `${JSON.stringify(template)} rendered ${JSON.stringify(address)}, ${why}`,
      );
    }
    addresses.push(address);
    // Checked as the list grows: an array value can be long.
    if (addresses.length > MAX_RECIPIENTS) {
      throw new TemplateError(
        field,
        `${JSON.stringify(template)} renders more than ${MAX_RECIPIENTS} addresses; at most ${MAX_RECIPIENTS} are allowed`,
      );
    }
  };
  for (const template of typeof templates === 'string' ? [templates] : templates) {
    const parsed = parseTemplate(template);
    if (!parsed.ok) throw new TemplateError(field, `invalid template: ${parsed.error}`);
    for (const entry of addressEntries(parsed.parts)) {
      const placeholder = lonePlaceholder(entry);
      const value = placeholder && lookupPath(context, placeholder.path);
      if (Array.isArray(value)) {
        value.forEach((item: unknown, index) => {
          if (typeof item !== 'string' || item.trim() === '') {
            throw new TemplateError(
              field,
              `${JSON.stringify(template)} rendered a list whose item ${index} (${JSON.stringify(item) ?? 'undefined'}) is not an email address`,
            );
          }
          add(template, item);
        });
        continue;
      }
      let rendered = '';
      for (const part of entry) {
        rendered += typeof part === 'string' ? part : stringifyValue(lookupPath(context, part.path));
        if (length + rendered.length > maxLength) throw tooLong(field, maxLength);
      }
      add(template, rendered);
    }
  }
  return addresses;
}

/**
 * Renders an email step's params for one run: `html` in html mode, `text` as text, every header field
 * (`from`, `to`, `cc`, `bcc`, `replyTo`, `subject`) in header mode. Recipients: a list only where the definition
 * makes one (see renderAddressList), each entry a valid address; `from` exactly one mailbox. Throws TemplateError
 * naming the field and the template at fault; callers should fail the step without retrying, since the same input
 * renders the same result.
 *
 * @param options.from - used when the step has no `from`; left out, the send activity applies its own.
 * @param options.maxLength - most characters any one field may render to (no limit when left out).
 * @param options.rules - `legacy` for runs that replay history from before `render-hardening` (see RenderRules).
 */
export function renderEmail(
  params: EmailParams,
  context: RenderContext,
  options: { from?: string | undefined; maxLength?: number; rules?: RenderRules } = {},
): RenderedEmail {
  const maxLength = options.maxLength ?? Infinity;
  const rules = options.rules ?? 'current';
  const addressList = rules === 'legacy' ? renderAddressListLegacy : renderAddressList;
  const to = addressList('to', params.to, context, maxLength);
  if (to.length === 0) {
    throw new TemplateError(
      'to',
      `${JSON.stringify(params.to)} rendered no recipient (a missing value renders as an empty string)`,
    );
  }
  const email: RenderedEmail = {
    to,
    subject: renderTemplate(params.subject, context, 'header', 'subject', maxLength, rules),
  };

  const fromTemplate = params.from ?? options.from;
  if (fromTemplate !== undefined) {
    const from = renderTemplate(fromTemplate, context, 'header', 'from', maxLength, rules).trim();
    if (rules === 'legacy' ? !isMailbox(from) : mailboxAddress(from) === undefined) {
      throw new TemplateError(
        'from',
        `${JSON.stringify(fromTemplate)} rendered ${JSON.stringify(from)}, which is not a valid sender ` +
          '(expected "addr@example.com" or "Name <addr@example.com>"' +
          (rules === 'legacy' ? ')' : ', a name holding , ; : @ ( ) [ ] in double quotes)'),
      );
    }
    email.from = from;
  }
  if (params.html !== undefined) {
    email.html = renderTemplate(params.html, context, 'html', 'html', maxLength, rules);
  }
  if (params.text !== undefined) email.text = renderTemplate(params.text, context, 'text', 'text', maxLength);

  // An optional recipient field that renders empty (its value is missing in this run) is simply left out.
  for (const field of ['cc', 'bcc', 'replyTo'] as const) {
    const templates = params[field];
    if (templates === undefined) continue;
    const addresses = addressList(field, templates, context, maxLength);
    if (addresses.length > 0) email[field] = addresses;
  }
  return email;
}
