import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/*
 * A local HTTP server that http steps call in tests: it records every request it receives and answers with
 * scripted responses (by default 200 with a JSON echo of the request). It listens on a loopback address, which
 * http steps may only reach when HTTP_ALLOWED_PRIVATE_NETWORKS opens it.
 */

export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** True when the client went away before the answer was sent (an aborted request). */
  aborted: boolean;
  /** Epoch milliseconds when the request's body had arrived. */
  receivedAt: number;
}

/** What to answer; a function gets the request. `hold: true` never answers (until close). */
export type TargetAnswer =
  | {
      status: number;
      headers?: Record<string, string>;
      body?: string | object;
      /** Sends the body in chunks of this many bytes, `dripMs` apart. */
      dripMs?: number;
    }
  | { hold: true }
  | { destroy: true };

export interface HttpTarget {
  /** `http://<host>:<port>` */
  url: string;
  port: number;
  readonly requests: readonly ReceivedRequest[];
  /** Answers for the next requests, in order; then the default echo. */
  answerNext(...answers: TargetAnswer[]): void;
  /** Resolves once `count` requests arrived (their bodies read). */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Resolves when a request to `path` that the server holds is aborted by its client. */
  waitForAbort(path: string, timeoutMs?: number): Promise<ReceivedRequest>;
  close(): Promise<void>;
}

export async function startHttpTarget(host = '127.0.0.1'): Promise<HttpTarget> {
  const requests: ReceivedRequest[] = [];
  const queue: TargetAnswer[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let changed = () => {};
  const notify = () => changed();

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received: ReceivedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        aborted: false,
        receivedAt: Date.now(),
      };
      requests.push(received);
      response.on('close', () => {
        if (!response.writableFinished) {
          received.aborted = true;
          notify();
        }
      });
      notify();
      answer(queue.shift() ?? { status: 200, body: { echo: received } }, response);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function answer(next: TargetAnswer, response: ServerResponse) {
    if ('hold' in next) return;
    if ('destroy' in next) {
      response.socket?.destroy();
      return;
    }
    const body =
      typeof next.body === 'string' ? next.body : next.body === undefined ? '' : JSON.stringify(next.body);
    const headers = {
      ...(typeof next.body === 'object' && { 'content-type': 'application/json' }),
      ...next.headers,
    };
    response.writeHead(next.status, headers);
    if (!next.dripMs) {
      response.end(body);
      return;
    }
    let offset = 0;
    const drip = () => {
      if (response.destroyed) return;
      if (offset >= body.length) {
        response.end();
        return;
      }
      response.write(body.slice(offset, offset + 16));
      offset += 16;
      const timer = setTimeout(drip, next.dripMs);
      timers.add(timer);
    };
    drip();
  }

  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;

  async function waitFor<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const found = check();
    if (found !== undefined) return found;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} within ${timeoutMs} ms`)), timeoutMs);
      const previous = changed;
      changed = () => {
        previous();
        const value = check();
        if (value !== undefined) {
          clearTimeout(timer);
          resolve(value);
        }
      };
    });
  }

  return {
    url: `http://${host}:${port}`,
    port,
    requests,
    answerNext: (...answers) => queue.push(...answers),
    waitForRequests: (count, timeoutMs = 20_000) =>
      waitFor(
        () => (requests.length >= count ? [...requests] : undefined),
        timeoutMs,
        `no ${count} requests`,
      ),
    waitForAbort: (path, timeoutMs = 20_000) =>
      waitFor(
        () => requests.find((request) => request.aborted && request.url === path),
        timeoutMs,
        `no aborted request to ${path}`,
      ),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
