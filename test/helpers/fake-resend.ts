import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A local stand-in for the Resend HTTP API, for integration tests: the real Resend SDK talks to it through
 * `createResendTransport({ resendApiKey: 're_test_…', resendBaseUrl: fake.url })`. It implements what
 * `emails.send` relies on, with Resend's wire format (checked against resend@6 and Resend's error reference):
 *
 * - `POST /emails`, `Authorization: Bearer re_…`, JSON body with snake_case fields (`reply_to`), optional
 *   `Idempotency-Key` header; 200 `{ id }` on success.
 * - Errors are `{ statusCode, name, message }` (the SDK hands that object back as `error`), e.g. 401
 *   `missing_api_key`, 403 `invalid_api_key`, 422 `missing_required_field` / `validation_error`, 429
 *   `rate_limit_exceeded` with `retry-after`, 500 `internal_server_error`.
 * - Idempotency: the same key with the same body answers 200 with the first email's id and sends nothing; the
 *   same key with another body answers 409 `invalid_idempotent_request`; the same key while the first request
 *   is still in progress answers 409 `concurrent_idempotent_requests`; a key longer than 256 characters answers
 *   400 `invalid_idempotency_key`.
 */

/** An email the fake accepted (a replayed idempotent request adds none). */
export interface FakeEmail {
  id: string;
  idempotencyKey: string | null;
  from: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  cc?: string[];
  bcc?: string[];
  replyTo?: string[];
  /** Epoch milliseconds. */
  receivedAt: number;
}

/** Every `POST /emails` the fake saw, in arrival order, with the answer it gave. */
export interface FakeRequest {
  idempotencyKey: string | null;
  /** HTTP status answered; 0 when the connection was dropped without an answer. */
  status: number;
  /** Resend's error name when the answer was an error. */
  errorName?: string;
  /** Id of the email answered on 200 (a replay answers the first email's id). */
  emailId?: string;
  /** True when a repeated idempotent request was answered from the stored result. */
  replayed?: boolean;
  /** Set when a scripted `accept` replaced the answer: the status the request was really handled with. */
  handledStatus?: number;
  /** Epoch milliseconds when the request arrived (before any hold). */
  receivedAt: number;
  /** Epoch milliseconds when it was answered; undefined while it is still held or in progress. */
  answeredAt?: number;
}

/**
 * A scripted answer. `name` and `message` default to Resend's for the status (500 `internal_server_error`,
 * 429 `rate_limit_exceeded`, 422 `validation_error`, …). A 429 carries `retry-after` (default 1 s).
 * `status: 0` drops the connection without answering: the SDK reports a network error (statusCode null).
 */
export interface ScriptedResponse {
  status: number;
  name?: string;
  message?: string;
  retryAfterSeconds?: number;
  /**
   * Process the request normally first (the email is accepted, idempotency recorded), then answer `status`
   * instead: with `status: 0` the provider's answer is lost, the case idempotency keys exist for.
   */
  accept?: boolean;
}

/** A request held in flight by `holdNext()`. */
export interface HeldRequest {
  /** Resolves when the held request has arrived (its body read, nothing answered yet). */
  arrived: Promise<void>;
  /** Lets the held request go on: it is then handled normally (scripted answers included). */
  release(): void;
  /** Resolves if the client gives up on the held request (closes its connection) before it is answered. */
  abandoned: Promise<void>;
}

export interface FakeResend {
  /** Base URL for the SDK's `baseUrl` / RESEND_BASE_URL, without a trailing slash. */
  url: string;
  /** Accepted emails, in order. */
  readonly emails: readonly FakeEmail[];
  /** Every `POST /emails`, in arrival order. */
  readonly requests: readonly FakeRequest[];
  /**
   * Queues scripted answers, consumed one per request that gets past authentication and the concurrency check;
   * normal behaviour resumes when the queue is empty.
   */
  failNext(...responses: ScriptedResponse[]): void;
  /** Makes the next request hang, its idempotency key in progress, until `release()`. Calls queue up. */
  holdNext(): HeldRequest;
  /** Resolves with the accepted emails once there are at least `count`; rejects after `timeoutMs`. */
  waitForEmails(count: number, timeoutMs?: number): Promise<FakeEmail[]>;
  /** Releases held requests, drops open connections and stops listening. */
  close(): Promise<void>;
}

const DEFAULT_ERRORS: Record<number, { name: string; message: string }> = {
  400: { name: 'validation_error', message: 'We found an error with one or more fields in the request.' },
  401: { name: 'missing_api_key', message: 'Missing API key in the authorization header.' },
  403: { name: 'invalid_api_key', message: 'API key is invalid.' },
  404: { name: 'not_found', message: 'The requested endpoint does not exist.' },
  405: { name: 'method_not_allowed', message: 'Method is not allowed for the requested path.' },
  409: {
    name: 'invalid_idempotent_request',
    message: 'Same idempotency key used with a different request payload.',
  },
  422: { name: 'validation_error', message: 'We found an error with one or more fields in the request.' },
  429: {
    name: 'rate_limit_exceeded',
    message: 'Too many requests. You can only make 2 requests per second.',
  },
  500: { name: 'internal_server_error', message: 'An unexpected error occurred.' },
};

function defaultError(status: number): { name: string; message: string } {
  return (
    DEFAULT_ERRORS[status] ??
    (status >= 500
      ? { name: 'application_error', message: 'An unexpected error occurred.' }
      : { name: 'validation_error', message: `The request failed with status ${status}.` })
  );
}

/** An answer the handler decided on; `status: 0` means drop the connection. */
interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  errorName?: string;
  emailId?: string;
  replayed?: boolean;
  /** With a scripted `accept`, the status the request was really handled with. */
  lostStatus?: number;
}

function errorAnswer(status: number, name?: string, message?: string, retryAfterSeconds?: number): Answer {
  const fallback = defaultError(status);
  const errorName = name ?? fallback.name;
  const headers: Record<string, string> = {};
  if (status === 429) {
    const retryAfter = String(retryAfterSeconds ?? 1);
    Object.assign(headers, {
      'retry-after': retryAfter,
      'ratelimit-limit': '2',
      'ratelimit-remaining': '0',
      'ratelimit-reset': retryAfter,
    });
  } else if (retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(retryAfterSeconds);
  }
  return {
    status,
    errorName,
    headers,
    body: { statusCode: status, name: errorName, message: message ?? fallback.message },
  };
}

/** A bare address or `Name <address>`, loosely: the fake checks shape, the workflow checks strictly. */
function isAddress(value: string): boolean {
  const bare = /^[^\s@<>,]+@[^\s@<>,]+\.[^\s@<>,]+$/;
  const named = /^[^<>]*<([^<>]+)>$/.exec(value.trim());
  return bare.test(value.trim()) || (named?.[1] !== undefined && bare.test(named[1]));
}

/** Recipients as Resend takes them: one string or an array of strings; undefined when malformed. */
function recipients(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((entry) => typeof entry === 'string')) return value;
  return undefined;
}

/** JSON with sorted keys, so two bodies that differ only in key order compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Validates a send request body; returns the email fields or the 422 Resend would answer. */
function parseEmail(
  body: unknown,
):
  | { ok: true; email: Omit<FakeEmail, 'id' | 'idempotencyKey' | 'receivedAt'> }
  | { ok: false; answer: Answer } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return {
      ok: false,
      answer: errorAnswer(422, 'validation_error', 'The request body must be a JSON object.'),
    };
  }
  const fields = body as Record<string, unknown>;
  for (const field of ['from', 'to', 'subject'] as const) {
    const value = fields[field];
    if (
      value === undefined ||
      value === null ||
      value === '' ||
      (Array.isArray(value) && value.length === 0)
    ) {
      return { ok: false, answer: errorAnswer(422, 'missing_required_field', `Missing \`${field}\` field.`) };
    }
  }
  if (typeof fields.from !== 'string' || !isAddress(fields.from)) {
    return {
      ok: false,
      answer: errorAnswer(
        422,
        'validation_error',
        'Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
      ),
    };
  }
  if (typeof fields.subject !== 'string') {
    return { ok: false, answer: errorAnswer(422, 'validation_error', 'Invalid `subject` field.') };
  }
  const lists: Partial<Record<'to' | 'cc' | 'bcc' | 'reply_to', string[]>> = {};
  for (const field of ['to', 'cc', 'bcc', 'reply_to'] as const) {
    if (fields[field] === undefined) continue;
    const list = recipients(fields[field]);
    if (!list || !list.every(isAddress)) {
      return {
        ok: false,
        answer: errorAnswer(
          422,
          'validation_error',
          `Invalid \`${field}\` field. The email address needs to follow the \`email@example.com\` or \`Name <email@example.com>\` format.`,
        ),
      };
    }
    if (list.length > 50) {
      return {
        ok: false,
        answer: errorAnswer(422, 'validation_error', `Too many recipients in \`${field}\`: at most 50.`),
      };
    }
    lists[field] = list;
  }
  for (const field of ['html', 'text'] as const) {
    if (fields[field] !== undefined && typeof fields[field] !== 'string') {
      return { ok: false, answer: errorAnswer(422, 'validation_error', `Invalid \`${field}\` field.`) };
    }
  }
  return {
    ok: true,
    email: {
      from: fields.from,
      to: lists.to ?? [],
      subject: fields.subject,
      ...(typeof fields.html === 'string' && { html: fields.html }),
      ...(typeof fields.text === 'string' && { text: fields.text }),
      ...(lists.cc && { cc: lists.cc }),
      ...(lists.bcc && { bcc: lists.bcc }),
      ...(lists.reply_to && { replyTo: lists.reply_to }),
    },
  };
}

/** Starts a fake Resend API on 127.0.0.1, on a free port. */
export async function startFakeResend(): Promise<FakeResend> {
  const emails: FakeEmail[] = [];
  const requests: FakeRequest[] = [];
  const scripted: ScriptedResponse[] = [];
  const holds: {
    arrive: () => void;
    released: Promise<void>;
    release: () => void;
    abandon: () => void;
  }[] = [];
  const pendingReleases = new Set<() => void>();
  /** Successful sends by idempotency key: what a repeat of the same request is answered with. */
  const idempotent = new Map<string, { fingerprint: string; id: string }>();
  /** Keys of requests still in progress (held): a concurrent request with the same key gets a 409. */
  const inProgress = new Set<string>();
  const emailWaiters = new Set<() => void>();

  function notifyEmails(): void {
    for (const waiter of emailWaiters) waiter();
  }

  async function decide(
    rawBody: string,
    key: string | null,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Answer> {
    const authorization = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    if (!bearer) return errorAnswer(401, 'missing_api_key');
    if (!bearer.startsWith('re_')) return errorAnswer(403, 'invalid_api_key');
    if (key !== null && (key.length < 1 || key.length > 256)) {
      return errorAnswer(400, 'invalid_idempotency_key', 'The key must be between 1-256 chars.');
    }
    if (key !== null && inProgress.has(key)) {
      return errorAnswer(
        409,
        'concurrent_idempotent_requests',
        'Same idempotency key used while original request is still in progress.',
      );
    }
    if (key !== null) inProgress.add(key);
    try {
      const hold = holds.shift();
      if (hold) {
        res.on('close', () => {
          if (!res.writableFinished) hold.abandon();
        });
        hold.arrive();
        await hold.released;
      }
      const script = scripted.shift();
      if (script?.accept) {
        // Handled normally, but the answer is lost on its way back (a timeout or a reset after the send).
        const answer = accept(rawBody, key);
        return { ...answer, status: script.status, lostStatus: answer.status };
      }
      if (script) {
        if (script.status === 0) return { status: 0 };
        return errorAnswer(script.status, script.name, script.message, script.retryAfterSeconds);
      }
      return accept(rawBody, key);
    } finally {
      if (key !== null) inProgress.delete(key);
    }
  }

  /** What Resend does with a send request it processes: idempotency, validation, acceptance. */
  function accept(rawBody: string, key: string | null): Answer {
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      return errorAnswer(400, 'validation_error', 'The request body is not valid JSON.');
    }
    const fingerprint = canonical(body);
    if (key !== null) {
      const previous = idempotent.get(key);
      if (previous && previous.fingerprint !== fingerprint)
        return errorAnswer(409, 'invalid_idempotent_request');
      if (previous) return { status: 200, body: { id: previous.id }, emailId: previous.id, replayed: true };
    }
    const parsed = parseEmail(body);
    if (!parsed.ok) return parsed.answer;
    const id = randomUUID();
    emails.push({ id, idempotencyKey: key, ...parsed.email, receivedAt: Date.now() });
    if (key !== null) idempotent.set(key, { fingerprint, id });
    notifyEmails();
    return { status: 200, body: { id }, emailId: id };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => undefined);
    const receivedAt = Date.now();
    const rawBody = await readBody(req);
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (path !== '/emails') return send(res, errorAnswer(404, 'not_found'));
    if (req.method !== 'POST') return send(res, errorAnswer(405, 'method_not_allowed'));

    const header = req.headers['idempotency-key'];
    const key = typeof header === 'string' ? header : null;
    const record: FakeRequest = { idempotencyKey: key, status: 0, receivedAt };
    requests.push(record);
    const answer = await decide(rawBody, key, req, res);
    record.status = answer.status;
    record.answeredAt = Date.now();
    if (answer.errorName !== undefined) record.errorName = answer.errorName;
    if (answer.emailId !== undefined) record.emailId = answer.emailId;
    if (answer.replayed) record.replayed = true;
    if (answer.lostStatus !== undefined) record.handledStatus = answer.lostStatus;
    send(res, answer);
  }

  function send(res: ServerResponse, answer: Answer): void {
    if (answer.status === 0) {
      res.socket?.destroy();
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        send(res, errorAnswer(500, 'internal_server_error', `fake Resend crashed: ${String(error)}`));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    emails,
    requests,
    failNext(...responses) {
      scripted.push(...responses);
    },
    holdNext() {
      let arrive!: () => void;
      let release!: () => void;
      let abandon!: () => void;
      const arrived = new Promise<void>((resolve) => (arrive = resolve));
      const abandoned = new Promise<void>((resolve) => (abandon = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const releaseOnce = () => {
        pendingReleases.delete(releaseOnce);
        release();
      };
      pendingReleases.add(releaseOnce);
      holds.push({ arrive, released, release: releaseOnce, abandon });
      return { arrived, release: releaseOnce, abandoned };
    },
    waitForEmails(count, timeoutMs = 10_000) {
      if (emails.length >= count) return Promise.resolve([...emails]);
      return new Promise<FakeEmail[]>((resolve, reject) => {
        const check = () => {
          if (emails.length < count) return;
          clearTimeout(timer);
          emailWaiters.delete(check);
          resolve([...emails]);
        };
        const timer = setTimeout(() => {
          emailWaiters.delete(check);
          reject(
            new Error(
              `fake Resend: expected ${count} accepted email(s) within ${timeoutMs} ms, got ${emails.length}; ` +
                `requests seen: ${JSON.stringify(requests.map((r) => [r.idempotencyKey, r.status, r.errorName]))}`,
            ),
          );
        }, timeoutMs);
        emailWaiters.add(check);
      });
    },
    async close() {
      for (const release of [...pendingReleases]) release();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
