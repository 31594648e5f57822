import { writeFileSync } from 'node:fs';

/*
 * What every bench script (bench/*.ts) does around its phases: log progress on stderr, stop everything it started
 * whatever happens, and print its report as JSON.
 */

/** A progress line on stderr, stamped with the time of day (stdout carries only the JSON report). */
export function benchLog(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * Everything a script starts is stopped in reverse order: on success and failure (`cleanup()`), on Ctrl-C or
 * SIGTERM, and at `deadlineS` when given (a run on a busy machine must not hang for ever).
 */
export function benchCleanups(options: { deadlineS?: number } = {}) {
  const stops: (() => Promise<unknown>)[] = [];
  async function stopAll(): Promise<void> {
    while (stops.length > 0) {
      const next = stops.pop();
      await next?.().catch((error: unknown) => benchLog(`cleanup: ${String(error)}`));
    }
  }
  const { deadlineS } = options;
  const deadline =
    deadlineS === undefined
      ? undefined
      : setTimeout(() => {
          benchLog(`the run exceeded its ${deadlineS} s deadline: stopping`);
          void stopAll().finally(() => process.exit(1));
        }, deadlineS * 1000);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      benchLog(`${signal}: stopping`);
      void stopAll().finally(() => process.exit(130));
    });
  }
  return {
    push(stop: () => Promise<unknown>): void {
      stops.push(stop);
    },
    /** Stops what is still running and clears the deadline. */
    async cleanup(): Promise<void> {
      await stopAll();
      clearTimeout(deadline);
    },
  };
}

/** The report as JSON on stdout, and in the file `out` when given. */
export function emitReport(report: unknown, out: string | undefined): void {
  const json = JSON.stringify(report, null, 2);
  if (out) writeFileSync(out, `${json}\n`);
  process.stdout.write(`${json}\n`);
}

/** Logs why the run failed (the exit code is 1 once the script's cleanup is done). */
export function benchFailed(error: unknown): void {
  benchLog(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
}

/** `--env NAME=value` flags (repeatable) as an environment; a malformed one stops the script with exit code 2. */
export function envFromFlags(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) {
        console.error(`--env ${pair}: expected NAME=value`);
        process.exit(2);
      }
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}
