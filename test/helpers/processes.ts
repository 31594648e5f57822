import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Real Hookflow processes (API, worker) for fault tests and benchmarks: the production entrypoints, run from
 * source with tsx, configured only through their environment, as an operator would run them.
 */
export interface HookflowProcess {
  name: string;
  child: ChildProcess;
  /** Everything the process printed so far (stdout + stderr), for diagnostics. */
  output(): string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const entrypoints = { api: 'src/api/server.ts', worker: 'src/worker.ts' } as const;

export function spawnHookflow(
  kind: keyof typeof entrypoints,
  env: Record<string, string>,
  options: { name?: string; echo?: boolean } = {},
): HookflowProcess {
  return spawnNode(
    ['--import', 'tsx', entrypoints[kind]],
    { LOG_LEVEL: 'warn', ...env },
    options.name ?? kind,
    options,
  );
}

/** Any Node child of the repo (`args` after the node binary), with the same bookkeeping as the entrypoints. */
export function spawnNode(
  args: string[],
  env: Record<string, string>,
  name: string,
  options: { echo?: boolean; ipc?: boolean } = {},
): HookflowProcess {
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', ...env },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    // Keep a bounded tail: a long benchmark must not grow this without limit.
    output = (output + chunk.toString()).slice(-200_000);
    if (options.echo) process.stderr.write(`[${name}] ${chunk.toString()}`);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return {
    name,
    child,
    output: () => output,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `url` until it answers 2xx; fails with the process output if it exits or the time runs out. */
export async function waitForHttp(
  url: string,
  processes: HookflowProcess[] = [],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const p of processes) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        throw new Error(
          `${p.name} exited (${p.child.exitCode ?? p.child.signalCode}) before ${url} answered:\n${p.output()}`,
        );
      }
    }
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(
    `${url} did not answer within ${timeoutMs} ms:\n${processes.map((p) => `--- ${p.name}\n${p.output()}`).join('\n')}`,
  );
}

/** Resolves once the worker process printed that it polls its task queue. */
export async function waitForWorker(worker: HookflowProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!worker.output().includes('worker polling task queue')) {
    if (worker.child.exitCode !== null) throw new Error(`worker exited early:\n${worker.output()}`);
    if (Date.now() > deadline)
      throw new Error(`worker not polling within ${timeoutMs} ms:\n${worker.output()}`);
    await sleep(100);
  }
}
