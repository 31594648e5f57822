import { ApplicationFailure, Context } from '@temporalio/activity';
import type { SecretResolver } from '../secrets/resolver.js';
import type {
  HttpRequestInput,
  HttpStepOutput,
  JsonBodyNode,
  SecretText,
} from '../workflows/http-request.js';
import { keepHeartbeating } from './heartbeat.js';
import {
  BlockedDestinationError,
  HttpNetworkError,
  HttpRedirectError,
  HttpRequestError,
  HttpTimeoutError,
  parseRetryAfter,
  type HttpRequester,
} from './http/safe-request.js';

/** Error types of the failures the activity throws; the run's step error carries them. */
export const HTTP_ERROR_TYPES = {
  /** Loopback, private, link-local, … (DESIGN §7). Never retried. */
  blocked: 'BlockedDestination',
  timeout: 'HttpTimeout',
  network: 'HttpNetworkError',
  invalid: 'InvalidHttpRequest',
  redirect: 'HttpRedirectError',
  /** A status that fails the step at once (4xx other than 408, 425, 429; 3xx without followRedirects). */
  status: 'HttpStatus',
  /** 408, 425, 429 or 5xx: retried, after the server's Retry-After when it gives one. */
  retryableStatus: 'HttpRetryableStatus',
  missingSecret: 'MissingSecret',
  invalidSecret: 'InvalidSecret',
  interrupted: 'HttpRequestInterrupted',
} as const;

/** What the activity returns: the step's output, and the attempt that produced it. */
export interface HttpRequestResult {
  output: HttpStepOutput;
  attempt: number;
}

const RETRYABLE_STATUSES = new Set([408, 425, 429]);
/** A server's Retry-After is honoured up to this; a longer one falls back to the step's own backoff cap. */
const MAX_RETRY_AFTER_MS = 15 * 60_000;
/** How much of a failed response's body its error quotes. */
const ERROR_BODY_CHARS = 300;
/** Secret values shorter than this are not searched for in responses (they would match ordinary text). */
const MIN_REDACTED_LENGTH = 4;

/**
 * The http step's activity: substitutes the account's secrets into the rendered request, sends it through the
 * SSRF-guarded requester and classifies the answer for Temporal's retries. Secret values exist only inside this
 * function: they are redacted from the output and from every error, which show `{{secrets.NAME}}` instead.
 */
export function createHttpRequestActivity(deps: {
  requester: Pick<HttpRequester, 'request'>;
  secrets: Pick<SecretResolver, 'resolveSecrets'>;
}) {
  return async function httpRequest(input: HttpRequestInput): Promise<HttpRequestResult> {
    const { info, cancellationSignal } = Context.current();
    const { attempt } = info;
    const fail = (type: string, message: string, options: { retryable?: boolean; delayMs?: number } = {}) =>
      ApplicationFailure.create({
        type,
        message,
        details: [{ attempt }],
        nonRetryable: !options.retryable,
        ...(options.delayMs !== undefined && { nextRetryDelay: options.delayMs }),
      });

    const names = secretNames(input);
    const { values, missing } = await deps.secrets.resolveSecrets(input.ownerId, names);
    if (missing.length > 0) {
      throw fail(
        HTTP_ERROR_TYPES.missingSecret,
        `secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set ` +
          `in this account: create ${missing.length > 1 ? 'them' : 'it'} with PUT /v1/secrets/${missing[0]}`,
      );
    }
    const secret = (name: string) => values.get(name) ?? '';
    const redact = createRedactor(values);

    let url: URL;
    try {
      const whole = input.url.length === 1;
      url = new URL(join(input.url, (value) => (whole ? value : encodeURIComponent(value)), secret));
    } catch {
      throw fail(HTTP_ERROR_TYPES.invalid, `url ${JSON.stringify(shown(input.url))} is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw fail(HTTP_ERROR_TYPES.invalid, `url must be http:// or https://, got ${url.protocol}`);
    }
    for (const [name, text] of input.query) url.searchParams.append(name, join(text, identity, secret));

    const headers: Record<string, string> = {};
    for (const [name, text] of input.headers) {
      const value = join(text, identity, secret);
      const unsafe = text.find((piece) => typeof piece !== 'string' && /[\r\n]/.test(secret(piece.secret)));
      if (unsafe && typeof unsafe !== 'string') {
        throw fail(
          HTTP_ERROR_TYPES.invalidSecret,
          `secret ${unsafe.secret} contains a line break (CR/LF) and cannot be used in the ${name} header`,
        );
      }
      headers[name] = value;
    }
    let body: string | undefined;
    if (input.body?.kind === 'json') body = JSON.stringify(toJson(input.body.node, secret));
    else if (input.body?.kind === 'text') body = join(input.body.text, identity, secret);

    const stopHeartbeats = keepHeartbeating();
    let response;
    try {
      response = await deps.requester.request({
        method: input.method,
        url: url.href,
        headers,
        ...(body !== undefined && { body }),
        timeoutMs: input.timeoutMs,
        followRedirects: input.followRedirects,
        signal: cancellationSignal,
      });
    } catch (error) {
      if (cancellationSignal.aborted) {
        throw fail(
          HTTP_ERROR_TYPES.interrupted,
          `the request was interrupted (${reasonOf(cancellationSignal)}) before the server answered`,
          { retryable: true },
        );
      }
      if (error instanceof HttpRequestError) {
        throw fail(errorType(error), redact(error.message), { retryable: error.retryable });
      }
      throw error;
    } finally {
      stopHeartbeats();
    }

    const output: HttpStepOutput = {
      status: response.status,
      headers: Object.fromEntries(
        Object.entries(response.headers).map(([name, value]) => [name, redact(value)]),
      ),
      body: redactDeep(response.body, redact),
      truncated: response.truncated,
    };
    if (response.status >= 200 && response.status < 300) return { output, attempt };

    // The url as messages show it, without its query; a url holding a secret shows its placeholder instead.
    const where = input.url.some((piece) => typeof piece !== 'string')
      ? shown(input.url).replace(/[?#][\s\S]*$/, '')
      : `${url.origin}${url.pathname}`;
    const what = `${input.method} ${where} answered ${response.status}${startOfBody(output.body)}`;
    if (RETRYABLE_STATUSES.has(response.status) || response.status >= 500) {
      const retryAfter = parseRetryAfter(response.headers['retry-after']);
      throw fail(HTTP_ERROR_TYPES.retryableStatus, what, {
        retryable: true,
        ...(retryAfter !== undefined &&
          retryAfter <= MAX_RETRY_AFTER_MS && { delayMs: Math.max(retryAfter, 1) }),
      });
    }
    const hint =
      response.status >= 300 && response.status < 400 && !input.followRedirects
        ? ' (set followRedirects: true to follow it)'
        : '';
    throw fail(HTTP_ERROR_TYPES.status, `${what}${hint}`);
  };
}

const identity = (value: string) => value;

/** Joins SecretText; `escape` applies to secret values only (rendered text was escaped in the workflow). */
function join(text: SecretText, escape: (value: string) => string, secret: (name: string) => string): string {
  return text.map((piece) => (typeof piece === 'string' ? piece : escape(secret(piece.secret)))).join('');
}

/** SecretText as errors show it: secrets as their placeholder. */
function shown(text: SecretText): string {
  return text.map((piece) => (typeof piece === 'string' ? piece : `{{secrets.${piece.secret}}}`)).join('');
}

function toJson(node: JsonBodyNode, secret: (name: string) => string): unknown {
  switch (node.kind) {
    case 'value':
      return node.value;
    case 'text':
      return join(node.text, identity, secret);
    case 'array':
      return node.items.map((item) => toJson(item, secret));
    case 'object':
      return Object.fromEntries(node.entries.map(([key, item]) => [key, toJson(item, secret)]));
  }
}

/** Every secret the request names, once each. */
function secretNames(input: HttpRequestInput): string[] {
  const names = new Set<string>();
  const collect = (text: SecretText) => {
    for (const piece of text) if (typeof piece !== 'string') names.add(piece.secret);
  };
  const visit = (node: JsonBodyNode) => {
    if (node.kind === 'text') collect(node.text);
    else if (node.kind === 'array') node.items.forEach(visit);
    else if (node.kind === 'object') node.entries.forEach(([, item]) => visit(item));
  };
  collect(input.url);
  for (const [, text] of [...input.headers, ...input.query]) collect(text);
  if (input.body?.kind === 'json') visit(input.body.node);
  else if (input.body?.kind === 'text') collect(input.body.text);
  return [...names];
}

/**
 * Replaces every used secret value (and its URL-encoded, form-encoded and JSON-escaped forms) in a string with its
 * placeholder: a server that echoes the request must not carry a secret into the run's history.
 */
function createRedactor(values: ReadonlyMap<string, string>): (text: string) => string {
  const replacements: [string, string][] = [];
  for (const [name, value] of values) {
    if (value.length < MIN_REDACTED_LENGTH) continue;
    const placeholder = `{{secrets.${name}}}`;
    replacements.push([value, placeholder]);
    const encoded = encodeURIComponent(value);
    if (encoded !== value) replacements.push([encoded, placeholder]);
    // A query parameter is form-encoded (a space becomes "+"), which differs from encodeURIComponent.
    const form = new URLSearchParams([['', value]]).toString().slice(1);
    if (form !== value && form !== encoded) replacements.push([form, placeholder]);
    const json = JSON.stringify(value).slice(1, -1);
    if (json !== value) replacements.push([json, placeholder]);
  }
  // Longest first, so a secret that contains another is replaced whole.
  replacements.sort(([a], [b]) => b.length - a.length);
  return (text) =>
    replacements.reduce((out, [value, placeholder]) => out.split(value).join(placeholder), text);
}

function redactDeep(value: unknown, redact: (text: string) => string): unknown {
  if (typeof value === 'string') return redact(value);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, redact));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [redact(key), redactDeep(item, redact)]),
    );
  }
  return value;
}

function startOfBody(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (!text) return '';
  return `: ${text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text}`;
}

function errorType(error: HttpRequestError): string {
  if (error instanceof BlockedDestinationError) return HTTP_ERROR_TYPES.blocked;
  if (error instanceof HttpTimeoutError) return HTTP_ERROR_TYPES.timeout;
  if (error instanceof HttpNetworkError) return HTTP_ERROR_TYPES.network;
  if (error instanceof HttpRedirectError) return HTTP_ERROR_TYPES.redirect;
  return HTTP_ERROR_TYPES.invalid;
}

function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}
