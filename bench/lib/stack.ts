import { randomBytes } from 'node:crypto';
import { findFreePort } from '../../src/temporal/dev-server.js';
import {
  spawnHookflow,
  waitForHttp,
  waitForWorker,
  type HookflowProcess,
} from '../../test/helpers/processes.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild, stopChild } from './children.js';

/** What the bench sets on top of the defaults, so the limits it measures are Hookflow's and not its guards'. */
export const BENCH_LIMITS = {
  // High enough that no limiter answers 429 during a run; they are still called on every request.
  WEBHOOK_RATE_LIMIT_PER_MINUTE: '100000000',
  LOGIN_RATE_LIMIT_PER_MINUTE: '100000000',
  REGISTER_RATE_LIMIT_PER_MINUTE: '100000000',
  // The provider's rate limit is enforced by Temporal per task queue (maxTaskQueueActivitiesPerSecond); at the
  // default of 5/s it, not Hookflow, would be what the end-to-end phase measures. Off (0), as a user without a
  // provider limit runs it: the worker then takes its sends as eager activities (src/temporal/worker.ts).
  EMAIL_MAX_PER_SECOND: '0',
  // The bench sends thousands of emails from one account; the per-account daily quota (default 1000 recipients) would
  // fail every send past it. Still counted on every send.
  EMAIL_DAILY_QUOTA: '100000000',
  // The bench registers its own accounts; production refuses sign-ups without an invitation by default.
  REGISTRATION_MODE: 'open',
  // Production processes refuse the console transport unless told; every process loads the same config.
  RESEND_API_KEY: 're_bench',
} as const;

/**
 * The http step phase's target listens on loopback, which http steps may not reach unless the operator opens it;
 * the API and the worker get the same setting, as a self-hoster would give them.
 */
export const BENCH_HTTP_STEP_ENV = { HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8' } as const;

/** Production processes need it (NODE_ENV=production); the API and the worker share one. */
const SECRETS_ENCRYPTION_KEY = randomBytes(32).toString('base64');
// Production settings encrypt Temporal payloads: measured with the codec on, as deployed.
const PAYLOAD_ENCRYPTION_KEYS = `k1:${randomBytes(32).toString('base64')}`;

const compiled = { api: 'dist/api/server.js', worker: 'dist/worker.js' } as const;

/**
 * The API or worker entrypoint: from source through tsx (test/helpers/processes.ts), or with `dist` the compiled
 * entrypoint (`npm run build`) as the Docker image runs it, without tsx's loader in the process.
 */
function launch(kind: 'api' | 'worker', env: Record<string, string>, name: string, dist: boolean) {
  if (!dist) return spawnHookflow(kind, env, { name });
  const script = compiled[kind];
  if (!existsSync(fileURLToPath(new URL(`../../${script}`, import.meta.url)))) {
    throw new Error(`${script} is missing: run \`npm run build\` before \`npm run bench -- --dist\``);
  }
  return spawnBenchChild(script, { LOG_LEVEL: 'warn', ...env }, name, { tsx: false });
}

export interface ApiProcess {
  process: HookflowProcess;
  baseUrl: string;
}

/** The real API entrypoint (src/api/server.ts) against the bench's database and Temporal, on a free port. */
export async function startApi(env: {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  logLevel: string;
  name: string;
  /** Extra environment, e.g. NODE_OPTIONS for profiling. */
  extraEnv?: Record<string, string>;
  dist?: boolean;
}): Promise<ApiProcess> {
  const port = await findFreePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const api = launch(
    'api',
    {
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_URL: baseUrl,
      DATABASE_URL: env.databaseUrl,
      TEMPORAL_ADDRESS: env.temporalAddress,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      JWT_SECRET: randomBytes(32).toString('hex'),
      SECRETS_ENCRYPTION_KEY,
      PAYLOAD_ENCRYPTION_KEYS,
      LOG_LEVEL: env.logLevel,
      ...BENCH_LIMITS,
      ...BENCH_HTTP_STEP_ENV,
      ...env.extraEnv,
    },
    env.name,
    env.dist ?? false,
  );
  try {
    await waitForHttp(`${baseUrl}/readyz`, [api], 60_000);
  } catch (error) {
    await stopChild(api);
    throw error;
  }
  return { process: api, baseUrl };
}

/**
 * The real worker entrypoint (src/worker.ts), sending through the Resend SDK to the fake, from a prebuilt bundle.
 * It reads account secrets for http steps from the API's database, so it gets the API's DATABASE_URL.
 */
export async function startWorker(env: {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  workflowBundlePath: string;
  resendUrl: string;
  logLevel: string;
  extraEnv?: Record<string, string>;
  dist?: boolean;
}): Promise<HookflowProcess> {
  const worker = launch(
    'worker',
    {
      DATABASE_URL: env.databaseUrl,
      TEMPORAL_ADDRESS: env.temporalAddress,
      TEMPORAL_TASK_QUEUE: env.taskQueue,
      TEMPORAL_WORKFLOW_BUNDLE: env.workflowBundlePath,
      SECRETS_ENCRYPTION_KEY,
      PAYLOAD_ENCRYPTION_KEYS,
      RESEND_BASE_URL: env.resendUrl,
      EMAIL_FROM: 'Hookflow Bench <bench@hookflow.test>',
      LOG_LEVEL: env.logLevel,
      ...BENCH_LIMITS,
      ...BENCH_HTTP_STEP_ENV,
      ...env.extraEnv,
    },
    'worker',
    env.dist ?? false,
  );
  try {
    await waitForWorker(worker, 60_000);
  } catch (error) {
    await stopChild(worker);
    throw error;
  }
  return worker;
}

/** JSON over fetch that fails loudly with the answer when the status is not the expected one. */
export async function requestJson<T>(
  url: string,
  options: { method?: string; body?: unknown; authorization?: string; expect: number },
): Promise<T> {
  const response = await fetch(url, {
    method: options.method ?? 'GET',
    headers: {
      ...(options.body !== undefined && { 'content-type': 'application/json' }),
      ...(options.authorization && { authorization: options.authorization }),
    },
    ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  if (response.status !== options.expect) {
    throw new Error(
      `${options.method ?? 'GET'} ${url}: expected ${options.expect}, got ${response.status}: ${text}`,
    );
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export const BENCH_PASSWORD = 'correct horse battery staple';

/** A workflow the bench creates: its name and step list (DSL v1.1). */
export interface BenchWorkflow {
  name: string;
  steps: unknown[];
}

/** One email per run; the bench finds each run's email by the sequence number in its subject. */
export function welcomeEmailWorkflow(index: number): BenchWorkflow {
  return {
    name: `Bench welcome ${index}`,
    steps: [
      {
        id: 'welcome',
        type: 'email',
        params: {
          to: '{{trigger.body.email}}',
          subject: 'bench {{trigger.body.seq}}',
          text: 'Hi {{trigger.body.name}}',
          html: '<p>Hi {{trigger.body.name}}</p>',
        },
      },
    ],
  };
}

/**
 * One http step per run: a POST with a small JSON body to `targetUrl`; the bench finds each run's request by the
 * `seq` in that body (a whole-placeholder value keeps the trigger's number type).
 */
export function httpStepWorkflow(targetUrl: string) {
  return (index: number): BenchWorkflow => ({
    name: `Bench http ${index}`,
    steps: [
      {
        id: 'notify',
        type: 'http',
        params: {
          method: 'POST',
          url: `${targetUrl}/bench/signups`,
          body: {
            email: '{{trigger.body.email}}',
            name: '{{trigger.body.name}}',
            seq: '{{trigger.body.seq}}',
          },
        },
      },
    ],
  });
}

/** The run's sequence number in the body of a request an httpStepWorkflow sent; undefined for anything else. */
export function seqOfHttpStepBody(body: string): number | undefined {
  try {
    const seq = (JSON.parse(body) as { seq?: unknown }).seq;
    return typeof seq === 'number' ? seq : undefined;
  } catch {
    return undefined;
  }
}

/** Signs up a fresh user and creates `count` workflows (one-email by default); returns the bearer header and webhook tokens. */
export async function seedAccount(
  baseUrl: string,
  count: number,
  workflow: (index: number) => BenchWorkflow = welcomeEmailWorkflow,
) {
  const email = `bench-${randomBytes(6).toString('hex')}@example.com`;
  const { token } = await requestJson<{ token: string }>(`${baseUrl}/v1/auth/register`, {
    method: 'POST',
    body: { email, password: BENCH_PASSWORD },
    expect: 201,
  });
  const authorization = `Bearer ${token}`;
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const created = await requestJson<{ webhook: { token: string } }>(`${baseUrl}/v1/workflows`, {
      method: 'POST',
      authorization,
      expect: 201,
      body: workflow(i),
    });
    tokens.push(created.webhook.token);
  }
  return { email, authorization, tokens };
}
