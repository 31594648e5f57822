/**
 * Runs `shutdown` once on the first SIGINT/SIGTERM; a second signal, or a shutdown that overruns `graceMs`,
 * exits at once. Only entrypoints call this.
 */
export function onShutdownSignal(shutdown: (signal: string) => Promise<void>, graceMs: number): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    const force = setTimeout(() => {
      console.error(`shutdown took longer than ${graceMs} ms: exiting`);
      process.exit(1);
    }, graceMs + 5000);
    force.unref();
    shutdown(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}

/** Start-up errors are reported in one readable block, never swallowed. */
export function exitOnStartupError(error: unknown): never {
  // Configuration and missing-CLI errors are instructions for a person; anything else needs its stack.
  const forPeople =
    error instanceof Error && ['ConfigError', 'TemporalCliNotFoundError'].includes(error.name);
  const message =
    error instanceof Error ? (forPeople ? error.message : (error.stack ?? error.message)) : String(error);
  console.error(`Hookflow failed to start:\n${message}`);
  process.exit(1);
}
