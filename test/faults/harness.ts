import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type Connection } from '@temporalio/client';
import { inject } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { CreatedWorkflowResource } from '../../src/api/services/workflow-service.js';
import { hookflowDataConverter } from '../../src/temporal/connection.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { parsePayloadKeys } from '../../src/temporal/payload-codec.js';
import { spawnHookflow, waitForHttp, waitForWorker, type HookflowProcess } from '../helpers/processes.js';

/*
 * What every fault test needs: real API and worker processes (the production entrypoints) configured only through
 * their environment, a small HTTP client for the public API, bounded waits, and one way of printing what a test did.
 */

/** Environment shared by the API and worker processes of one test (same secret, same task queue). */
export function hookflowEnv(options: {
  databaseUrl: string;
  temporalAddress: string;
  resendUrl: string;
  env?: Record<string, string>;
}): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    TEMPORAL_ADDRESS: options.temporalAddress,
    TEMPORAL_TASK_QUEUE: `hookflow-faults-${randomBytes(4).toString('hex')}`,
    TEMPORAL_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    JWT_SECRET: randomBytes(32).toString('hex'),
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    RESEND_API_KEY: 're_test_faults',
    RESEND_BASE_URL: options.resendUrl,
    EMAIL_FROM: 'Hookflow Faults <faults@hookflow.test>',
    EMAIL_MAX_PER_SECOND: '1000',
    HOST: '127.0.0.1',
    // Every test signs up its own users, none by invitation.
    REGISTRATION_MODE: 'open',
    ...options.env,
  };
}

export interface RunningApi {
  process: HookflowProcess;
  url: string;
}

/** Starts an API process on a free port and waits until /readyz says PostgreSQL and Temporal answer. */
export async function launchApi(env: Record<string, string>, name = 'api'): Promise<RunningApi> {
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const api = spawnHookflow('api', { ...env, PORT: String(port), PUBLIC_URL: url }, { name });
  processes.add(api);
  await waitForHttp(`${url}/readyz`, [api], 60_000);
  return { process: api, url };
}

/** Starts a worker process and waits until it polls its task queue. */
export async function launchWorker(env: Record<string, string>, name = 'worker'): Promise<HookflowProcess> {
  const worker = spawnHookflow('worker', env, { name });
  processes.add(worker);
  await waitForWorker(worker, 60_000);
  return worker;
}

const processes = new Set<HookflowProcess>();

/** Kills every process this file started that is still running (test teardown; no grace needed). */
export async function killAll(): Promise<void> {
  await Promise.all([...processes].map((p) => p.kill('SIGKILL')));
  processes.clear();
}

// A test process that exits without its teardown (a hook timeout, say) must not leave API or worker processes behind.
process.once('exit', () => {
  for (const p of processes) if (isRunning(p)) p.child.kill('SIGKILL');
});

export function isRunning(p: HookflowProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** Rejects with `what` when `promise` takes longer than `ms`: every wait in a fault test is bounded. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `read` every 250 ms until `done` holds; fails after `ms` with the last value seen. */
export async function waitUntil<T>(
  ms: number,
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${ms} ms: ${what}; last value: ${JSON.stringify(last)}${lastError instanceof Error ? `; last error: ${lastError.message}` : ''}`,
      );
    }
    await sleep(250);
  }
}

/** One HTTP answer, read completely. */
export interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** Any network failure (refused, reset, timed out) is reported as `status: 0` with the error's code. */
export interface NetworkFailure {
  status: 0;
  error: string;
}

async function request(
  url: string,
  init: RequestInit & { timeoutMs?: number } = {},
): Promise<Answer | NetworkFailure> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 15_000) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: 0, error: cause?.code ?? (error as Error).name };
  }
}

/** The public API as a client sees it; `baseUrl` may change when a test replaces the API process. */
export function apiClient(initialUrl: string) {
  let baseUrl = initialUrl;
  let authorization = '';

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    return request(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(authorization && { authorization }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  }

  function expectStatus(answer: Answer | NetworkFailure, status: number, what: string): Answer {
    if (answer.status !== status) {
      throw new Error(`${what}: expected ${status}, got ${answer.status}: ${JSON.stringify(answer)}`);
    }
    return answer as Answer;
  }

  return {
    get url() {
      return baseUrl;
    },
    useApi(url: string) {
      baseUrl = url;
    },
    call,

    /** Registers a fresh user and keeps its token for the calls that follow. */
    async signUp(): Promise<void> {
      const answer = expectStatus(
        await call('POST', '/v1/auth/register', {
          email: `faults-${randomUUID()}@example.com`,
          password: 'correct horse battery staple',
        }),
        201,
        'sign-up',
      );
      authorization = `Bearer ${(answer.body as { token: string }).token}`;
    },

    async createWorkflow(definition: object): Promise<CreatedWorkflowResource> {
      const answer = expectStatus(await call('POST', '/v1/workflows', definition), 201, 'create workflow');
      return answer.body as CreatedWorkflowResource;
    },

    /** POST /hooks/:token as a webhook sender would, with an optional delivery key. */
    hit(token: string, body: unknown, idempotencyKey?: string, timeoutMs?: number) {
      return request(`${baseUrl}/hooks/${token}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(idempotencyKey !== undefined && { 'idempotency-key': idempotencyKey }),
        },
        body: JSON.stringify(body),
        ...(timeoutMs !== undefined && { timeoutMs }),
      });
    },

    async getRun(runId: string): Promise<RunResource> {
      const answer = expectStatus(await call('GET', `/v1/runs/${runId}`), 200, `GET /v1/runs/${runId}`);
      return answer.body as RunResource;
    },

    /** Waits until every run in `runIds` has closed, and returns them. */
    async waitForRuns(runIds: string[], ms: number): Promise<RunResource[]> {
      return Promise.all(
        runIds.map((runId) =>
          waitUntil(
            ms,
            `run ${runId} to close`,
            () => this.getRun(runId),
            (run) => run.status !== 'running',
          ),
        ),
      );
    },
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

/** An email step whose retries are quick enough for a test (attempts every 200 ms to 1 s). */
export function emailStep(id: string) {
  return {
    id,
    type: 'email',
    params: { to: '{{trigger.body.email}}', subject: `Step ${id}`, text: 'Hello {{trigger.body.name}}' },
    retry: { maxAttempts: 10, initialInterval: '200ms', backoffCoefficient: 2, maxInterval: '1s' },
  };
}

/** Prints what a fault test did and the counts it checked, as one block in the test output. */
export function report(title: string, started: number, counts: Record<string, number | string>): void {
  const width = Math.max(...Object.keys(counts).map((key) => key.length));
  const lines = Object.entries(counts).map(([key, value]) => `  ${key.padEnd(width)}  ${value}`);
  console.log(`[faults] ${title} (${((Date.now() - started) / 1000).toFixed(1)} s)\n${lines.join('\n')}`);
}

/**
 * A Temporal client that reads what the processes of `env` wrote: the same data converter, so the payloads they
 * encrypted with PAYLOAD_ENCRYPTION_KEYS decode.
 */
export function temporalClientFor(connection: Connection, env: Record<string, string>): Client {
  const keys = env.PAYLOAD_ENCRYPTION_KEYS ? parsePayloadKeys(env.PAYLOAD_ENCRYPTION_KEYS) : undefined;
  if (keys && 'error' in keys) throw new Error(keys.error);
  return new Client({ connection, dataConverter: hookflowDataConverter(keys?.keys) });
}
