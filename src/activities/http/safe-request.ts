import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { Agent, buildConnector } from 'undici';
import type { Dispatcher } from 'undici';
import { BLOCKED_CATEGORY_LABELS, createAddressPolicy } from './address-policy.js';
import type { AddressPolicy, BlockedCategory } from './address-policy.js';
import { HTTP_METHODS, MANAGED_REQUEST_HEADERS, type HttpMethod } from '../../workflows/http-request.js';

/**
 * One outbound HTTP request for the `http` step (DESIGN §7), with the destination checked on the address actually
 * connected to, the response capped, and every failure a typed error the activity can classify.
 */

export { HTTP_METHODS, type HttpMethod };

/** How many redirects `followRedirects: true` follows before giving up. */
export const MAX_REDIRECTS = 5;

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
/** setTimeout fires at once for longer delays. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Base class of every error the requester throws; `retryable` is the classification the activity should use. */
export abstract class HttpRequestError extends Error {
  abstract readonly retryable: boolean;
}

/** The destination is (or resolves to) a blocked address. Never retried: the address will not become public. */
export class BlockedDestinationError extends HttpRequestError {
  readonly retryable = false;
  constructor(
    /** The host as written in the URL (or the redirect), not the address it resolved to. */
    readonly host: string,
    readonly category: BlockedCategory,
  ) {
    super(
      `refused to connect to ${host}: it is or resolves to ${BLOCKED_CATEGORY_LABELS[category]}, ` +
        'which workflows may not reach (an operator can open private ranges with HTTP_ALLOWED_PRIVATE_NETWORKS)',
    );
    this.name = 'BlockedDestinationError';
  }
}

/** The whole exchange (connect, headers, body, every redirect hop) did not finish in time. */
export class HttpTimeoutError extends HttpRequestError {
  readonly retryable = true;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HttpTimeoutError';
  }
}

/** DNS failure, connection refused or reset, TLS failure, malformed response: no usable answer arrived. */
export class HttpNetworkError extends HttpRequestError {
  readonly retryable = true;
  constructor(
    message: string,
    /** The system or undici error code (`ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_SOCKET`), when there was one. */
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HttpNetworkError';
  }
}

/** The request itself cannot be sent (bad URL or scheme, method, header, body); retrying cannot help. */
export class InvalidHttpRequestError extends HttpRequestError {
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidHttpRequestError';
  }
}

/** A redirect could not be followed: too many hops, or a `Location` that is not an http(s) URL. */
export class HttpRedirectError extends HttpRequestError {
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = 'HttpRedirectError';
  }
}

export interface HttpRequest {
  method: HttpMethod;
  /** An absolute http: or https: URL, query included. */
  url: string;
  /** Values may hold secrets: they never appear in error messages. */
  headers?: Record<string, string>;
  /** Sent as is; the caller sets `content-type`. Not allowed with GET or HEAD. */
  body?: string | Uint8Array;
  /** Covers the whole exchange, body and redirects included. Default 10 s. */
  timeoutMs?: number;
  /** Follow up to {@link MAX_REDIRECTS} redirects, each destination re-checked. Default false: a 3xx is returned. */
  followRedirects?: boolean;
  /** Aborts the request (activity cancellation); the request then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Lower-cased names; a repeated header's values are joined with `", "`. */
  headers: Record<string, string>;
  /** Parsed JSON when the content type says JSON and the complete body parses; otherwise UTF-8 text. */
  body: unknown;
  /** The body was longer than `maxResponseBytes` and was cut there (it is then never parsed as JSON). */
  truncated: boolean;
  /** The URL that answered, after redirects. */
  url: string;
}

/** Resolves a host name to all its addresses; injectable so tests can point names at chosen addresses. */
export type ResolveHost = (hostname: string, options: { family: number }) => Promise<LookupAddress[]>;

export interface HttpRequesterOptions {
  /** CIDRs that open otherwise blocked destinations (`HTTP_ALLOWED_PRIVATE_NETWORKS`); empty by default. */
  allowedPrivateNetworks?: string | readonly string[];
  /** Response bodies are cut (and flagged `truncated`) past this many bytes. Default 64 KiB. */
  maxResponseBytes?: number;
  /** Sent as `user-agent` unless the request sets its own. */
  userAgent: string;
  /** Defaults to the system resolver (`dns.lookup`, the one `net.connect` uses). */
  resolveHost?: ResolveHost;
}

/** Credentials that must not follow a redirect to another origin (as browsers and fetch do). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** Body headers dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Obsolete line folding and control characters other than tab are refused (RFC 9110 §5.5), CR/LF above all.
// eslint-disable-next-line no-control-regex
const INVALID_HEADER_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * Builds the requester the `http` activity uses. It owns a connection pool (an undici `Agent`) whose connector
 * refuses blocked destinations: host names are resolved inside the connection's own lookup and refused when any
 * address is blocked, so the address checked is the address connected to (no DNS-rebinding window); IP literals
 * are checked before anything is sent. Call `close()` on worker shutdown.
 */
export function createHttpRequester(options: HttpRequesterOptions) {
  const policy = createAddressPolicy(options.allowedPrivateNetworks);
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const resolveHost = options.resolveHost ?? defaultResolveHost;
  if (!Number.isSafeInteger(maxResponseBytes) || maxResponseBytes < 0) {
    throw new TypeError('maxResponseBytes must be a non-negative integer');
  }

  const baseConnect = buildConnector({ lookup: guardedLookup(policy, resolveHost) });
  const agent = new Agent({
    connect(connectOptions, callback) {
      // Literal IPs never reach the lookup; request() refuses them first, this is the backstop.
      const category = isIP(connectOptions.hostname)
        ? policy.blockedCategory(connectOptions.hostname)
        : undefined;
      if (category !== undefined) {
        callback(new BlockedDestinationError(connectOptions.hostname, category), null);
        return;
      }
      baseConnect(connectOptions, callback);
    },
  });

  /**
   * Sends one request and reads its (capped) response. Resolves with any status, 4xx and 5xx included; rejects
   * with {@link BlockedDestinationError}, {@link HttpTimeoutError}, {@link HttpNetworkError},
   * {@link InvalidHttpRequestError} or {@link HttpRedirectError}, or with `signal.reason` when `signal` aborts.
   */
  async function request(input: HttpRequest): Promise<HttpResponse> {
    input.signal?.throwIfAborted();
    const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS) {
      throw new InvalidHttpRequestError(`timeoutMs must be a positive number of at most ${MAX_TIMER_MS}`);
    }
    const method = checkMethod(input.method);
    if (input.body !== undefined && (method === 'GET' || method === 'HEAD')) {
      throw new InvalidHttpRequestError(`a ${method} request cannot have a body`);
    }
    let url = parseHttpUrl(input.url, 'the request URL');
    let headers = normaliseHeaders(input.headers ?? {});
    headers['user-agent'] ??= options.userAgent;
    let hop = { method: method as string, body: input.body };

    // One deadline for the whole exchange: undici's own timeouts are per phase (a body dripping one byte per
    // second would never trip its bodyTimeout), so a single timer aborts whatever is in flight.
    const deadline = new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new HttpTimeoutError(`no complete response from ${url.origin} within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    const signal = input.signal ? AbortSignal.any([input.signal, deadline.signal]) : deadline.signal;
    try {
      for (let redirects = 0; ; redirects++) {
        refuseBlockedLiteral(url, policy);
        const response = await agent.request({
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: hop.method,
          headers,
          body: hop.body,
          signal,
        });
        const location = followRedirects(input, response);
        if (location === undefined) {
          const { text, truncated } = await readCapped(response.body, maxResponseBytes);
          return {
            status: response.statusCode,
            headers: flattenHeaders(response.headers),
            body: truncated ? text : parseBody(text, response.headers['content-type']),
            truncated,
            url: url.href,
          };
        }
        // Drain (up to a limit) so the connection can be reused, then decide the next hop.
        await response.body.dump();
        if (redirects === MAX_REDIRECTS) {
          throw new HttpRedirectError(
            `more than ${MAX_REDIRECTS} redirects, the last one from ${url.origin}`,
          );
        }
        const next = resolveLocation(location, url);
        if (next.origin !== url.origin) headers = withoutHeaders(headers, CREDENTIAL_HEADERS);
        if (changesToGet(response.statusCode, hop.method)) {
          hop = { method: 'GET', body: undefined };
          headers = withoutHeaders(headers, BODY_HEADERS);
        }
        url = next;
      }
    } catch (error) {
      // The signal's reason wins over whatever undici made of the abort: our HttpTimeoutError, or the caller's.
      signal.throwIfAborted();
      throw classify(error, url);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    request,
    /** Closes pooled connections once in-flight requests finish. */
    close: () => agent.close(),
  };
}

export type HttpRequester = ReturnType<typeof createHttpRequester>;

/**
 * The delay a `Retry-After` header asks for, in milliseconds: delay-seconds or an HTTP-date (a date in the past
 * gives 0). `undefined` when the header is missing or malformed.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const ms = Number(text) * 1000;
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  // Only the three HTTP-date forms (RFC 9110 §5.6.7): Date.parse alone accepts almost anything, "5" included.
  const imfFixdate = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
  const rfc850 = /^[A-Za-z]+, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
  const asctime = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;
  let date: number;
  if (imfFixdate.test(text) || rfc850.test(text)) {
    date = Date.parse(text);
  } else if (asctime.test(text)) {
    date = Date.parse(`${text} GMT`); // asctime is UTC without saying so
  } else {
    return undefined;
  }
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

async function defaultResolveHost(hostname: string, options: { family: number }): Promise<LookupAddress[]> {
  return dnsLookup(hostname, { all: true, family: options.family });
}

/**
 * A `net.connect` lookup that resolves all addresses and refuses the connection when any of them is blocked
 * (rather than picking a safe one: a name that mixes public and private addresses is an attack or a mistake).
 */
function guardedLookup(policy: AddressPolicy, resolveHost: ResolveHost): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    const requested = lookupOptions.family;
    const family = requested === 'IPv4' ? 4 : requested === 'IPv6' ? 6 : (requested ?? 0);
    resolveHost(hostname, { family }).then(
      (addresses) => {
        const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
        const blocked = usable.map((a) => policy.blockedCategory(a.address)).find((c) => c !== undefined);
        // Called on the next tick so an exception thrown by net's callback is not swallowed by this promise.
        if (blocked !== undefined) {
          process.nextTick(callback, new BlockedDestinationError(hostname, blocked), []);
        } else if (usable[0] === undefined) {
          const error = Object.assign(new Error(`no addresses for ${hostname}`), { code: 'ENOTFOUND' });
          process.nextTick(callback, error, []);
        } else if (lookupOptions.all === true) {
          process.nextTick(callback, null, usable);
        } else {
          process.nextTick(callback, null, usable[0].address, usable[0].family);
        }
      },
      (error: NodeJS.ErrnoException) => process.nextTick(callback, error, []),
    );
  };
}

function refuseBlockedLiteral(url: URL, policy: AddressPolicy): void {
  // The WHATWG parser has already turned 2130706433, 0x7f.1 and 0177.0.0.1 into 127.0.0.1, and IPv6 into its
  // canonical bracketed form.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(host) === 0) return;
  const category = policy.blockedCategory(host);
  if (category !== undefined) throw new BlockedDestinationError(url.hostname, category);
}

function checkMethod(method: string): HttpMethod {
  const upper = method.toUpperCase();
  const known = HTTP_METHODS.find((m) => m === upper);
  if (known === undefined) {
    throw new InvalidHttpRequestError(`unsupported method (expected one of ${HTTP_METHODS.join(', ')})`);
  }
  return known;
}

/** Parses an http(s) URL. Messages never echo the URL: its query may carry a substituted secret. */
function parseHttpUrl(text: string, what: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new InvalidHttpRequestError(`${what} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidHttpRequestError(`${what} must use http: or https:, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new InvalidHttpRequestError(
      `${what} must not contain credentials; send an authorization header instead`,
    );
  }
  return url;
}

function resolveLocation(location: string, current: URL): URL {
  try {
    return parseHttpUrl(location, `the redirect from ${current.origin}`, current);
  } catch (error) {
    throw new HttpRedirectError((error as Error).message);
  }
}

/** The `Location` to follow next, or `undefined` when this response is the answer. */
function followRedirects(input: HttpRequest, response: Dispatcher.ResponseData): string | undefined {
  if (input.followRedirects !== true) return undefined;
  if (![301, 302, 303, 307, 308].includes(response.statusCode)) return undefined;
  const location = response.headers.location;
  return typeof location === 'string' ? location : undefined;
}

/** 303 (except for HEAD), and 301/302 after a POST, become a GET without body, as browsers do; 307/308 never. */
function changesToGet(status: number, method: string): boolean {
  if (status === 303) return method !== 'HEAD' && method !== 'GET';
  return (status === 301 || status === 302) && method === 'POST';
}

function normaliseHeaders(input: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(input)) {
    const name = rawName.toLowerCase();
    if (!HEADER_NAME.test(name)) throw new InvalidHttpRequestError('a request header has an invalid name');
    if (MANAGED_REQUEST_HEADERS.has(name)) {
      throw new InvalidHttpRequestError(
        `the ${name} header is set by the HTTP client and cannot be overridden`,
      );
    }
    if (name in headers) throw new InvalidHttpRequestError(`the ${name} header is given twice`);
    if (typeof value !== 'string' || INVALID_HEADER_VALUE.test(value)) {
      throw new InvalidHttpRequestError(`the ${name} header has an invalid value`);
    }
    headers[name] = value;
  }
  return headers;
}

function withoutHeaders(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name)));
}

function flattenHeaders(headers: Dispatcher.ResponseData['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/** Reads at most `max` bytes, then destroys the stream: a huge or endless body costs no more than the cap. */
async function readCapped(body: Readable, max: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > max) {
      chunks.push(chunk.subarray(0, max - size));
      truncated = true;
      break; // leaving the loop destroys the stream (and the connection under it)
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  // A cut body may end inside a multi-byte character: streaming mode holds those bytes back instead of
  // producing U+FFFD, and there is no final flush for them.
  const text = new TextDecoder('utf-8').decode(Buffer.concat(chunks), { stream: truncated });
  return { text, truncated };
}

function parseBody(text: string, contentType: string | string[] | undefined): unknown {
  const mediaType = (Array.isArray(contentType) ? contentType[0] : contentType)
    ?.split(';')[0]
    ?.trim()
    .toLowerCase();
  const isJson =
    mediaType === 'application/json' || mediaType === 'text/json' || mediaType?.endsWith('+json');
  if (!isJson) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A failure and its causes, outermost first (undici and net wrap each other's errors). */
function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && chain.length < 5;) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

const NETWORK_ERROR_TEXT: Record<string, string> = {
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'DNS resolution failed temporarily',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed while sending',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  UND_ERR_SOCKET: 'the server closed the connection',
  UND_ERR_HEADERS_OVERFLOW: 'the response headers are too large',
};

/** Maps what undici, net, dns and tls throw to the module's typed errors; messages name only the origin. */
function classify(error: unknown, url: URL): Error {
  const chain = errorChain(error);
  const own = chain.find((e): e is HttpRequestError => e instanceof HttpRequestError);
  if (own !== undefined) return own;
  const code = chain
    .map((e) => (e as { code?: unknown } | null)?.code)
    .find((c): c is string => typeof c === 'string');
  const cause = error instanceof Error ? error : undefined;
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return new HttpTimeoutError(`${url.origin} did not answer in time (${code})`, { cause });
  }
  if (code === 'UND_ERR_INVALID_ARG') {
    // undici's argument messages name headers, never their values.
    const invalid = chain.find((e) => (e as { code?: unknown } | null)?.code === code);
    const message = invalid instanceof Error ? invalid.message : code;
    return new InvalidHttpRequestError(`the request was rejected: ${message}`, { cause });
  }
  const tls =
    code !== undefined && (code.includes('CERT') || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL'));
  const what =
    (code !== undefined && NETWORK_ERROR_TEXT[code]) ||
    (tls ? 'the TLS handshake failed (certificate or protocol)' : 'the request failed');
  const message = `could not complete the request to ${url.origin}: ${what} (${code ?? 'no code'})`;
  return new HttpNetworkError(message, code, { cause });
}
