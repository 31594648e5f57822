import type { LookupAddress } from 'node:dns';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BlockedDestinationError,
  createHttpRequester,
  HttpNetworkError,
  HttpRedirectError,
  HttpTimeoutError,
  InvalidHttpRequestError,
  parseRetryAfter,
} from '../../src/activities/http/safe-request.js';
import type {
  HttpRequest,
  HttpRequester,
  HttpRequesterOptions,
} from '../../src/activities/http/safe-request.js';

interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface TestServer {
  server: Server;
  port: number;
  origin: string;
  received: ReceivedRequest[];
  /** TCP connections accepted so far: a refused destination must leave this at 0. */
  connections: () => number;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** A local server on an ephemeral port; the handler sees each request after its body has been read. */
async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
  host = '127.0.0.1',
): Promise<TestServer> {
  const received: ReceivedRequest[] = [];
  let connections = 0;
  const listener: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const server = createServer(listener);
  server.on('connection', () => connections++);
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return { server, port, origin: `http://${host}:${port}`, received, connections: () => connections };
}

function requester(options: Partial<HttpRequesterOptions> = {}): HttpRequester {
  const created = createHttpRequester({
    allowedPrivateNetworks: '127.0.0.0/8',
    userAgent: 'hookflow-test/1.0',
    ...options,
  });
  cleanups.push(() => created.close());
  return created;
}

/** The rejection of `promise`, failing the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/**
 * Counts the TCP connections attempted while `run` is in flight, and stops every one of them before a packet leaves:
 * `Socket.prototype.connect` (which `net.connect` and `tls.connect` call) is replaced for the duration. Should the
 * code under test regress, a test aimed at a private address then fails here instead of reaching out to it.
 */
async function withSocketGuard<T>(run: () => Promise<T>): Promise<{ result: T; sockets: number }> {
  let sockets = 0;
  const original = Object.getOwnPropertyDescriptor(Socket.prototype, 'connect');
  if (original === undefined) throw new Error('net.Socket has no connect method to guard');
  Object.defineProperty(Socket.prototype, 'connect', {
    ...original,
    value(this: Socket) {
      sockets++;
      process.nextTick(() => this.destroy(new Error('test guard: a connection was attempted')));
      return this;
    },
  });
  try {
    const result = await run();
    return { result, sockets };
  } finally {
    Object.defineProperty(Socket.prototype, 'connect', original);
  }
}

const get = (url: string, extra: Partial<HttpRequest> = {}): HttpRequest => ({
  method: 'GET',
  url,
  timeoutMs: 5_000,
  ...extra,
});

describe('createHttpRequester: responses', () => {
  it('parses a JSON body and lower-cases headers, joining repeated ones', async () => {
    const target = await startServer((_req, res) => {
      res.setHeader('X-Request-Id', 'req_1');
      res.setHeader('X-Multi', ['a', 'b']);
      res.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ id: 42, tags: ['x'] }));
    });
    const response = await requester().request(get(`${target.origin}/contacts?source=hookflow`));
    expect(response).toMatchObject({
      status: 201,
      body: { id: 42, tags: ['x'] },
      truncated: false,
      url: `${target.origin}/contacts?source=hookflow`,
    });
    expect(response.headers).toMatchObject({
      'x-request-id': 'req_1',
      'x-multi': 'a, b',
      'content-type': 'application/json; charset=utf-8',
    });
    expect(Object.keys(response.headers).every((name) => name === name.toLowerCase())).toBe(true);
    expect(target.received[0]).toMatchObject({
      method: 'GET',
      url: '/contacts?source=hookflow',
      headers: { 'user-agent': 'hookflow-test/1.0' },
    });
  });

  it('parses +json media types and keeps unparsable JSON as text', async () => {
    const target = await startServer((req, res) => {
      if (req.url === '/problem') {
        res.writeHead(422, { 'content-type': 'application/problem+json' });
        res.end('{"title":"bad"}');
      } else {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('<html>oops</html>');
      }
    });
    const http = requester();
    expect(await http.request(get(`${target.origin}/problem`))).toMatchObject({
      status: 422,
      body: { title: 'bad' },
    });
    expect(await http.request(get(`${target.origin}/broken`))).toMatchObject({
      status: 500,
      body: '<html>oops</html>',
    });
  });

  it('returns other content types as UTF-8 text, and HEAD as an empty body', async () => {
    const target = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('héllo ✓ {"not":"parsed"}');
    });
    const http = requester();
    expect(await http.request(get(target.origin))).toMatchObject({
      body: 'héllo ✓ {"not":"parsed"}',
      truncated: false,
    });
    expect(await http.request({ method: 'HEAD', url: target.origin })).toMatchObject({
      status: 200,
      body: '',
    });
  });

  it('cuts a 1 MiB body at 64 KiB, flags it truncated and does not parse it', async () => {
    const big = JSON.stringify({ data: 'x'.repeat(1024 * 1024) });
    const target = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(big);
    });
    const response = await requester().request(get(target.origin));
    expect(response.truncated).toBe(true);
    expect(typeof response.body).toBe('string');
    expect(Buffer.byteLength(response.body as string)).toBe(64 * 1024);
    expect(response.body).toBe(big.slice(0, 64 * 1024));
  });

  it('stops reading an endless body at the cap and closes the connection', async () => {
    let responseClosed!: Promise<unknown>;
    const target = await startServer((_req, res) => {
      responseClosed = once(res, 'close');
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'a');
      // Writes for as long as the client reads: only the client hanging up ends this.
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    const response = await requester({ maxResponseBytes: 100_000 }).request(get(target.origin));
    expect(response.truncated).toBe(true);
    expect((response.body as string).length).toBe(100_000);
    await responseClosed;
  });

  it('does not flag a body of exactly the cap, and never splits a UTF-8 character', async () => {
    const target = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(req.url === '/exact' ? 'abcd' : 'abcé'); // é is two bytes: the cut falls inside it
    });
    const http = requester({ maxResponseBytes: 4 });
    expect(await http.request(get(`${target.origin}/exact`))).toMatchObject({
      body: 'abcd',
      truncated: false,
    });
    expect(await http.request(get(`${target.origin}/split`))).toMatchObject({ body: 'abc', truncated: true });
  });

  it('sends the method, headers and body of a POST', async () => {
    const target = await startServer((_req, res, body) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echoed: JSON.parse(body) as unknown }));
    });
    const response = await requester().request({
      method: 'POST',
      url: `${target.origin}/v1/contacts`,
      headers: {
        'Content-Type': 'application/json',
        'Idempotency-Key': 'run_1/crm',
        'User-Agent': 'custom/2',
      },
      body: JSON.stringify({ email: 'ada@example.com' }),
      timeoutMs: 5_000,
    });
    expect(response).toMatchObject({ status: 201, body: { echoed: { email: 'ada@example.com' } } });
    expect(target.received[0]).toMatchObject({
      method: 'POST',
      url: '/v1/contacts',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': 'run_1/crm',
        'user-agent': 'custom/2',
      },
      body: '{"email":"ada@example.com"}',
    });
  });
});

describe('createHttpRequester: time limits and cancellation', () => {
  it('cuts a slow-drip body when the timeout covering the whole exchange runs out', async () => {
    let headersSent!: () => void;
    const headersWereSent = new Promise<void>((resolve) => (headersSent = resolve));
    let responseClosed!: Promise<unknown>;
    const target = await startServer((_req, res) => {
      responseClosed = once(res, 'close');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('.');
      headersSent();
      // A byte every 20 ms: never idle long enough for a per-read timeout, never finished.
      const drip = setInterval(() => res.write('.'), 20);
      res.on('close', () => clearInterval(drip));
    });
    const error = await rejectionOf(requester().request(get(target.origin, { timeoutMs: 300 })));
    await headersWereSent;
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect((error as HttpTimeoutError).retryable).toBe(true);
    expect((error as Error).message).toContain('300 ms');
    await responseClosed;
  });

  it('times out a server that never answers', async () => {
    const target = await startServer(() => {
      // never responds
    });
    const error = await rejectionOf(requester().request(get(target.origin, { timeoutMs: 200 })));
    expect(error).toBeInstanceOf(HttpTimeoutError);
  });

  it('aborts when the external signal fires, rejecting with its reason', async () => {
    let requestArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (requestArrived = resolve));
    let responseClosed!: Promise<unknown>;
    const target = await startServer((_req, res) => {
      responseClosed = once(res, 'close');
      requestArrived();
    });
    const controller = new AbortController();
    const pending = requester().request(get(target.origin, { signal: controller.signal }));
    await arrived;
    const reason = new Error('activity cancelled');
    controller.abort(reason);
    expect(await rejectionOf(pending)).toBe(reason);
    await responseClosed;
  });

  it('does not connect at all when the signal is already aborted', async () => {
    const target = await startServer((_req, res) => res.end());
    const reason = new Error('already cancelled');
    const error = await rejectionOf(
      requester().request(get(target.origin, { signal: AbortSignal.abort(reason) })),
    );
    expect(error).toBe(reason);
    expect(target.connections()).toBe(0);
  });
});

describe('createHttpRequester: redirects', () => {
  it('returns a 3xx as the response by default', async () => {
    const target = await startServer((req, res) => {
      if (req.url === '/old') res.writeHead(302, { location: '/new' }).end();
      else res.end('new');
    });
    const response = await requester().request(get(`${target.origin}/old`));
    expect(response).toMatchObject({ status: 302, url: `${target.origin}/old` });
    expect(response.headers.location).toBe('/new');
    expect(target.received.map((r) => r.url)).toEqual(['/old']);
  });

  it('follows redirects when asked, reporting the final URL', async () => {
    const target = await startServer((req, res) => {
      if (req.url === '/a') res.writeHead(301, { location: '/b' }).end();
      else if (req.url === '/b') res.writeHead(308, { location: `${target.origin}/c?x=1` }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"at":"c"}');
    });
    const response = await requester().request(get(`${target.origin}/a`, { followRedirects: true }));
    expect(response).toMatchObject({ status: 200, body: { at: 'c' }, url: `${target.origin}/c?x=1` });
    expect(target.received.map((r) => r.url)).toEqual(['/a', '/b', '/c?x=1']);
  });

  it.each([
    [303, 'GET', ''],
    [302, 'GET', ''],
    [301, 'GET', ''],
    [307, 'POST', 'payload'],
    [308, 'POST', 'payload'],
  ])('after a POST answered %i, sends %s with body %j', async (status, method, body) => {
    const target = await startServer((req, res) => {
      if (req.url === '/submit') res.writeHead(status, { location: '/done' }).end();
      else res.end('done');
    });
    await requester().request({
      method: 'POST',
      url: `${target.origin}/submit`,
      headers: { 'content-type': 'text/plain' },
      body: 'payload',
      followRedirects: true,
    });
    const second = target.received[1];
    expect(second).toMatchObject({ method, url: '/done', body });
    expect(second?.headers['content-type']).toBe(method === 'GET' ? undefined : 'text/plain');
  });

  it('keeps PUT on a 302 and turns it into GET on a 303', async () => {
    const target = await startServer((req, res) => {
      if (req.url === '/302') res.writeHead(302, { location: '/done' }).end();
      else if (req.url === '/303') res.writeHead(303, { location: '/done' }).end();
      else res.end();
    });
    const http = requester();
    await http.request({ method: 'PUT', url: `${target.origin}/302`, body: 'x', followRedirects: true });
    await http.request({ method: 'PUT', url: `${target.origin}/303`, body: 'x', followRedirects: true });
    expect(target.received.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
      'PUT /302 x',
      'PUT /done x',
      'PUT /303 x',
      'GET /done ',
    ]);
  });

  it('gives up after 5 redirects', async () => {
    const target = await startServer((_req, res) => res.writeHead(302, { location: '/loop' }).end());
    const error = await rejectionOf(
      requester().request(get(`${target.origin}/loop`, { followRedirects: true })),
    );
    expect(error).toBeInstanceOf(HttpRedirectError);
    expect((error as HttpRedirectError).retryable).toBe(false);
    expect(target.received).toHaveLength(6);
  });

  it('refuses a redirect to a scheme other than http(s)', async () => {
    const target = await startServer((_req, res) =>
      res.writeHead(302, { location: 'file:///etc/passwd' }).end(),
    );
    const error = await rejectionOf(requester().request(get(target.origin, { followRedirects: true })));
    expect(error).toBeInstanceOf(HttpRedirectError);
    expect((error as Error).message).toContain('file:');
  });

  it('drops credentials on a redirect to another origin, keeps them on the same origin', async () => {
    const other = await startServer((_req, res) => res.end('other'));
    const target = await startServer((req, res) => {
      if (req.url === '/same') res.writeHead(302, { location: '/landing' }).end();
      else if (req.url === '/cross') res.writeHead(302, { location: `${other.origin}/landing` }).end();
      else res.end();
    });
    const http = requester();
    const headers = { authorization: 'Bearer s3cret', cookie: 'sid=1', 'idempotency-key': 'run_1/step' };
    await http.request(get(`${target.origin}/same`, { headers, followRedirects: true }));
    await http.request(get(`${target.origin}/cross`, { headers, followRedirects: true }));
    expect(target.received[1]?.headers).toMatchObject({ authorization: 'Bearer s3cret', cookie: 'sid=1' });
    expect(other.received[0]?.headers.authorization).toBeUndefined();
    expect(other.received[0]?.headers.cookie).toBeUndefined();
    expect(other.received[0]?.headers['idempotency-key']).toBe('run_1/step');
  });

  it('refuses a redirect to a blocked address even though the first hop was allowed', async () => {
    // On Linux all of 127/8 is loopback: 127.0.0.2 is allowed, 127.0.0.1 (the redirect target) is not.
    const forbidden = await startServer((_req, res) => res.end('secret'));
    const allowedHop = await startServer(
      (_req, res) => res.writeHead(302, { location: `${forbidden.origin}/admin` }).end(),
      '127.0.0.2',
    );
    const http = requester({ allowedPrivateNetworks: '127.0.0.2/32' });
    const error = await rejectionOf(http.request(get(`${allowedHop.origin}/go`, { followRedirects: true })));
    expect(error).toBeInstanceOf(BlockedDestinationError);
    expect(error).toMatchObject({ host: '127.0.0.1', category: 'loopback', retryable: false });
    expect(allowedHop.received).toHaveLength(1);
    expect(forbidden.connections()).toBe(0);
  });

  it('refuses a redirect to a host name that resolves to a blocked address', async () => {
    const forbidden = await startServer((_req, res) => res.end('secret'));
    const allowedHop = await startServer(
      (_req, res) => res.writeHead(302, { location: `http://localhost:${forbidden.port}/admin` }).end(),
      '127.0.0.2',
    );
    const http = requester({ allowedPrivateNetworks: '127.0.0.2/32' });
    const error = await rejectionOf(http.request(get(`${allowedHop.origin}/go`, { followRedirects: true })));
    expect(error).toMatchObject({ name: 'BlockedDestinationError', host: 'localhost', category: 'loopback' });
    expect(forbidden.connections()).toBe(0);
  });
});

describe('createHttpRequester: blocked destinations', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['[::1]', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['10.0.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['172.16.0.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['[fd00::1]', 'unique-local'],
    ['[fe80::1]', 'link-local'],
  ])('refuses http://%s before opening any socket (%s)', async (host, category) => {
    const target = await startServer((_req, res) => res.end('reached'));
    const http = requester({ allowedPrivateNetworks: '' });
    const { result: error, sockets } = await withSocketGuard(() =>
      rejectionOf(
        http.request(
          get(`http://${host}:${target.port}/`, {
            headers: { authorization: 'Bearer s3cret' },
            timeoutMs: 2_000,
          }),
        ),
      ),
    );
    expect(error).toBeInstanceOf(BlockedDestinationError);
    expect(error).toMatchObject({ category, retryable: false });
    expect((error as Error).message).not.toContain('s3cret');
    expect(sockets).toBe(0);
    expect(target.connections()).toBe(0);
  });

  it('has a socket guard that stops connections (so the tests above cannot reach a private address)', async () => {
    const target = await startServer((_req, res) => res.end('reached'));
    const { result: error, sockets } = await withSocketGuard(() =>
      rejectionOf(requester().request(get(target.origin, { timeoutMs: 2_000 }))),
    );
    expect((error as Error).message).toContain('the request failed');
    expect(sockets).toBe(1);
    expect(target.connections()).toBe(0);
  });

  it('refuses localhost at DNS resolution, before the connection is made', async () => {
    const target = await startServer((_req, res) => res.end('reached'));
    const http = requester({ allowedPrivateNetworks: '' });
    const error = await rejectionOf(
      http.request(get(`http://localhost:${target.port}/`, { timeoutMs: 2_000 })),
    );
    expect(error).toBeInstanceOf(BlockedDestinationError);
    expect(error).toMatchObject({ host: 'localhost', category: 'loopback' });
    expect((error as Error).message).toMatch(/^refused to connect to localhost: .*loopback/);
    expect(target.connections()).toBe(0);
  });

  it('checks the addresses the connection itself resolves (one resolution per connection)', async () => {
    const target = await startServer((_req, res) => res.end('ok'));
    const lookups: string[] = [];
    const http = requester({
      resolveHost: (hostname) => {
        lookups.push(hostname);
        return Promise.resolve<LookupAddress[]>([{ address: '127.0.0.1', family: 4 }]);
      },
    });
    const response = await http.request(get(`http://api.test:${target.port}/`));
    expect(response).toMatchObject({ status: 200, body: 'ok' });
    expect(target.received[0]?.headers.host).toBe(`api.test:${target.port}`);
    // No pre-flight resolution whose answer could differ from the one connected to.
    expect(lookups).toEqual(['api.test']);
  });

  it('refuses a name when any of its addresses is blocked', async () => {
    // Both addresses are loopback, so even a regression connects nowhere but here; only 127.0.0.2 is allowed.
    const target = await startServer((_req, res) => res.end('reached'));
    const http = requester({
      allowedPrivateNetworks: '127.0.0.2/32',
      resolveHost: () =>
        Promise.resolve<LookupAddress[]>([
          { address: '127.0.0.2', family: 4 },
          { address: '::ffff:127.0.0.1', family: 6 },
        ]),
    });
    const error = await rejectionOf(http.request(get(`http://mixed.test:${target.port}/`)));
    expect(error).toBeInstanceOf(BlockedDestinationError);
    expect(error).toMatchObject({ host: 'mixed.test', category: 'loopback' });
    expect(target.connections()).toBe(0);
  });
});

describe('createHttpRequester: invalid requests and network errors', () => {
  it.each([
    ['ftp://files.example.com/x', /http: or https:/],
    ['file:///etc/passwd', /http: or https:/],
    ['javascript:alert(1)', /http: or https:/],
    ['not a url', /not a valid URL/],
    ['http://user:pa55@example.com/', /credentials/],
  ])('refuses %s without sending anything', async (url, message) => {
    const { result: error, sockets } = await withSocketGuard(() =>
      rejectionOf(requester().request(get(url))),
    );
    expect(error).toBeInstanceOf(InvalidHttpRequestError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('pa55');
    expect(sockets).toBe(0);
  });

  it.each<[Partial<HttpRequest>, RegExp]>([
    [{ method: 'TRACE' as HttpRequest['method'] }, /unsupported method/],
    [{ body: 'x' }, /GET request cannot have a body/],
    [{ headers: { 'x-token': 's3cret\r\nx-injected: 1' } }, /x-token header has an invalid value/],
    [{ headers: { host: 'internal.example' } }, /host header/],
    [{ headers: { 'bad name': 's3cret' } }, /invalid name/],
    [{ timeoutMs: 0 }, /timeoutMs/],
  ])('refuses an invalid request %j, never echoing header values', async (extra, message) => {
    const error = await rejectionOf(requester().request(get('http://127.0.0.1:9/', extra)));
    expect(error).toBeInstanceOf(InvalidHttpRequestError);
    expect((error as InvalidHttpRequestError).retryable).toBe(false);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('s3cret');
  });

  it('reports a refused connection as a retryable network error', async () => {
    const closed = await startServer(() => undefined);
    const { port } = closed;
    closed.server.close();
    await once(closed.server, 'close');
    const error = await rejectionOf(requester().request(get(`http://127.0.0.1:${port}/`)));
    expect(error).toBeInstanceOf(HttpNetworkError);
    expect(error).toMatchObject({ code: 'ECONNREFUSED', retryable: true });
  });

  it('reports a connection the server drops as a network error', async () => {
    const target = await startServer((req) => req.socket.destroy());
    const error = await rejectionOf(requester().request(get(target.origin)));
    expect(error).toBeInstanceOf(HttpNetworkError);
    expect((error as Error).message).toContain(target.origin);
  });

  it('reports a DNS failure as a network error', async () => {
    const http = requester({
      resolveHost: () =>
        Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })),
    });
    const error = await rejectionOf(http.request(get('http://nowhere.test/')));
    expect(error).toBeInstanceOf(HttpNetworkError);
    expect(error).toMatchObject({ code: 'ENOTFOUND' });
    expect((error as Error).message).toContain('does not resolve');
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it.each([
    ['120', 120_000],
    ['0', 0],
    [' 5 ', 5_000],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30_000],
    ['Thursday, 01-Jan-26 00:01:00 GMT', 60_000],
    ['Thu Jan  1 00:00:10 2026', 10_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0], // in the past
  ])('reads %j as %i ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it.each([undefined, '', 'soon', '-5', '1.5', '2026-01-01T00:00:30Z', '9'.repeat(400)])(
    'ignores %j',
    (value) => {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    },
  );
});
