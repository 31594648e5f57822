import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { findStablePort } from '../../src/temporal/dev-server.js';
import { startFakeResend } from '../helpers/fake-resend.js';
import { apiClient, emailStep, report, waitUntil, type Answer } from './harness.js';

/*
 * `npm start` as a person or a supervisor stops it: a SIGTERM to the npm process itself (systemd, a process manager
 * that only knows npm's pid), and Ctrl-C, which signals the whole process group. Either way the API, the worker and
 * the Temporal dev server all stop, and the shutdown is the graceful one (not "SIGINT again: exiting now").
 */

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const dataDirs: string[] = [];

afterAll(() => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** Where an npm start keeps its data, and its ports and secrets: a second start with the same is a restart. */
interface NpmSetup {
  cli: { cacheDir: string } | 'found';
  extraEnv: Record<string, string>;
  dataDir: string;
  port: number;
  temporalPort: number;
  uiPort: number;
  codecPort: number;
  secrets: Record<string, string>;
}

/**
 * `npm start` with the test's Temporal CLI, unless `cli` says to give it none (a machine that never had one), and
 * `extraEnv` on top of its environment.
 */
async function startNpm(cli: NpmSetup['cli'] = 'found', extraEnv: Record<string, string> = {}) {
  return launchNpm(await npmSetup(cli, extraEnv));
}

async function npmSetup(cli: NpmSetup['cli'], extraEnv: Record<string, string>): Promise<NpmSetup> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hookflow-npm-start-'));
  dataDirs.push(dataDir);
  // Below the ephemeral range: the build before the dev server starts can take a while, and an ephemeral port picked
  // now may be some connection's local port by then.
  const [port, temporalPort, uiPort, codecPort] = [
    await findStablePort(),
    await findStablePort(),
    await findStablePort(),
    await findStablePort(),
  ];
  const secrets = {
    JWT_SECRET: randomBytes(32).toString('hex'),
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    PAYLOAD_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
  };
  return { cli, extraEnv, dataDir, port, temporalPort, uiPort, codecPort, secrets };
}

async function launchNpm(setup: NpmSetup) {
  const { cli, extraEnv, dataDir, port, temporalPort, uiPort, codecPort } = setup;
  const child = spawn('npm', ['start'], {
    cwd: repoRoot,
    // Its own process group, like a terminal's foreground job, so Ctrl-C can be sent to all of it.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...(cli === 'found'
        ? {
            ...(process.env.TEMPORAL_CLI_PATH && { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH }),
            ...(process.env.HOOKFLOW_CACHE_DIR && { HOOKFLOW_CACHE_DIR: process.env.HOOKFLOW_CACHE_DIR }),
          }
        : { HOOKFLOW_CACHE_DIR: cli.cacheDir }),
      PORT: String(port),
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_DEV_UI_PORT: String(uiPort),
      PAYLOAD_CODEC_PORT: String(codecPort),
      TEMPORAL_DEV_DB_FILE: join(dataDir, 'temporal.db'),
      PGLITE_DATA_DIR: join(dataDir, 'pglite'),
      ...setup.secrets,
      ...extraEnv,
    },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const url = `http://127.0.0.1:${port}/readyz`;
  await waitUntil(
    cli === 'found' ? 120_000 : 600_000,
    `npm start to answer ${url}`,
    () =>
      fetch(url).then(
        (response) => response.status,
        () => 0,
      ),
    (status) => status === 200 || child.exitCode !== null,
  );
  expect(child.exitCode, output).toBeNull();
  return { child, exited, output: () => output, port, temporalPort };
}

/** True while something accepts connections on the port. */
async function listening(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/`).then(
    () => true,
    (error: unknown) => !/ECONNREFUSED/.test(String((error as { cause?: unknown }).cause ?? error)),
  );
}

/** The command names (`comm`) of the processes in process group `groupId`. */
function processGroupCommands(groupId: number): string[] {
  const commands: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after its last ')'.
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    if (pgrp === groupId) commands.push(comm);
  }
  return commands;
}

it('on a fresh checkout (no source compiled yet), npm start keeps no compiler process once it is up', async () => {
  // tsx compiles the TypeScript sources on first use and caches them under the temporary directory: a fresh one is
  // a fresh clone's first start. Its compiler, esbuild, used to stay up for the life of the process (one per thread
  // that compiled, ~29 MiB together; bench/RESULTS.md).
  const freshTmp = mkdtempSync(join(tmpdir(), 'hookflow-npm-start-tmp-'));
  dataDirs.push(freshTmp);
  const npm = await startNpm('found', { TMPDIR: freshTmp });
  try {
    const commands = processGroupCommands(npm.child.pid!);
    expect(commands, npm.output()).toContain('MainThread');
    expect(commands).not.toContain('esbuild');
  } finally {
    process.kill(-npm.child.pid!, 'SIGINT');
    await npm.exited;
  }
});

it('SIGTERM to the npm process stops the API, the worker and the dev server, gracefully', async () => {
  const started = Date.now();
  const npm = await startNpm();
  const stopping = Date.now();
  npm.child.kill('SIGTERM');
  const code = await Promise.race([
    npm.exited,
    new Promise((resolve) => setTimeout(() => resolve('still running'), 30_000)),
  ]);
  expect(code, npm.output()).not.toBe('still running');
  expect(npm.output()).toContain('hookflow: stopped.');
  expect(await listening(npm.port)).toBe(false);
  expect(await listening(npm.temporalPort)).toBe(false);
  report('SIGTERM to the npm start process', started, {
    'SIGTERM to exit (ms)': Date.now() - stopping,
    'npm exit code': String(code),
  });
});

it('Ctrl-C (SIGINT to the process group) stops everything gracefully, not "SIGINT again"', async () => {
  const started = Date.now();
  const npm = await startNpm();
  const stopping = Date.now();
  process.kill(-npm.child.pid!, 'SIGINT');
  // npm itself exits at once on Ctrl-C, as in a terminal; Hookflow's processes finish their shutdown after it.
  await waitUntil(
    30_000,
    `the API and the dev server to stop, and the shutdown to be reported (output so far: ${npm.output().slice(-3000)})`,
    async () => ({
      api: await listening(npm.port),
      temporal: await listening(npm.temporalPort),
      stopped: npm.output().includes('hookflow: stopped.'),
    }),
    (state) => !state.api && !state.temporal && state.stopped,
  );
  expect(npm.output()).not.toContain('SIGINT again');
  report('Ctrl-C to npm start (SIGINT to its process group)', started, {
    'SIGINT to everything stopped (ms)': Date.now() - stopping,
    'npm exit code': String(await npm.exited),
  });
});

it('npm start killed outright (SIGKILL to all of it) right after accepting webhooks: every run completes after a restart, one email each', async () => {
  // npm start starts its runs eagerly: Temporal hands each run's first task to npm start's own worker in the start's
  // answer. Killed before that task completes, the run must not be stranded: Temporal gives the task to a worker
  // again once its workflow task timeout (10 s) passes, here the worker of the restarted npm start.
  const started = Date.now();
  const resend = await startFakeResend();
  try {
    const setup = await npmSetup('found', {
      RESEND_API_KEY: 're_test_npm_start',
      RESEND_BASE_URL: resend.url,
      EMAIL_FROM: 'Hookflow <hello@hookflow.test>',
    });
    const first = await launchNpm(setup);
    const api = apiClient(`http://127.0.0.1:${setup.port}`);
    await api.signUp();
    const workflow = await api.createWorkflow({ name: 'Accepted, then killed', steps: [emailStep('hello')] });
    const accepted = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.hit(workflow.webhook.token, { email: `kill-${i}@example.com`, name: `k${i}` }, `kill-${i}`),
      ),
    );
    expect(accepted.map((answer) => answer.status)).toEqual(Array(20).fill(202));
    // The whole process group, as the OOM killer or a pulled plug would: npm, Node and the dev server.
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;
    await waitUntil(
      15_000,
      'the dev server to go with npm start',
      () => listening(setup.temporalPort),
      (up) => !up,
    );
    const emailsBeforeRestart = resend.emails.length;

    const second = await launchNpm(setup);
    try {
      const restarted = Date.now();
      const runIds = accepted.map((answer) => ((answer as Answer).body as { runId: string }).runId);
      const runs = await api.waitForRuns(runIds, 90_000);
      expect(runs.map((run) => run.status)).toEqual(Array(20).fill('completed'));
      const keys = resend.emails.map((email) => email.idempotencyKey);
      expect(keys.sort()).toEqual(runIds.map((id) => `${id}/hello`).sort());
      report('npm start SIGKILLed right after acknowledging webhooks, then started again', started, {
        'hits accepted (202) before the kill': runIds.length,
        'emails sent before the kill': emailsBeforeRestart,
        'restart to all runs completed (ms)': Date.now() - restarted,
        'emails accepted (one per run)': keys.length,
      });
    } finally {
      process.kill(-second.child.pid!, 'SIGINT');
      await second.exited;
    }
  } finally {
    await resend.close();
  }
});

it('on a machine with Go but no Temporal CLI, npm start builds the CLI itself (saying so) and starts', async () => {
  if (process.env.PATH?.split(':').some((dir) => existsSync(join(dir, 'temporal')))) {
    throw new Error('a `temporal` binary is on PATH: this test needs a PATH without one to mean anything');
  }
  const started = Date.now();
  const cacheDir = mkdtempSync(join(tmpdir(), 'hookflow-empty-cache-'));
  dataDirs.push(cacheDir);
  const npm = await startNpm({ cacheDir });
  expect(npm.output()).toMatch(
    /building the Temporal CLI v[\d.]+ from the Go module proxy, about 2 minutes, once/,
  );
  expect(existsSync(join(cacheDir, 'temporal-cli-v1.5.1', 'temporal'))).toBe(true);
  npm.child.kill('SIGTERM');
  await npm.exited;
  report('npm start without a Temporal CLI (Go on PATH, empty cache)', started, {
    'start to ready, build included (ms)': Date.now() - started,
  });
});
