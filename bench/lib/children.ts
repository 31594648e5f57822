import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNode, type HookflowProcess } from '../../test/helpers/processes.js';

/**
 * A bench-only child (the ceiling worker, the trivial server, or with `tsx: false` a compiled dist/ entrypoint),
 * launched like test/helpers/processes.ts launches the Hookflow entrypoints from source (node --import tsx).
 */
export function spawnBenchChild(
  script: string,
  env: Record<string, string>,
  name: string,
  options: { ipc?: boolean; tsx?: boolean } = {},
): HookflowProcess {
  return spawnNode(options.tsx === false ? [script] : ['--import', 'tsx', script], env, name, options);
}

/** Resolves with the first match of `pattern` in the child's output; fails if it exits or the time runs out. */
export async function waitForOutput(
  processHandle: HookflowProcess,
  pattern: RegExp,
  timeoutMs = 60_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(processHandle.output());
    if (match) return match;
    if (processHandle.child.exitCode !== null || processHandle.child.signalCode !== null) {
      throw new Error(`${processHandle.name} exited before printing ${pattern}:\n${processHandle.output()}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${processHandle.name} did not print ${pattern} within ${timeoutMs} ms:\n${processHandle.output()}`,
      );
    }
    await sleep(50);
  }
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(processHandle: HookflowProcess, graceMs = 15_000): Promise<void> {
  const { child } = processHandle;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await processHandle.kill('SIGTERM');
  clearTimeout(timer);
}
