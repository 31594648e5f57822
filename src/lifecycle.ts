/** A repeat of the first signal within this long is a wrapper relaying it, not a second request. */
const RELAYED_SIGNAL_MS = 1_000;

/**
 * Runs `shutdown` once on the first SIGINT/SIGTERM; a second signal, or a shutdown that overruns `graceMs`,
 * exits at once. Only entrypoints call this.
 */
export function onShutdownSignal(shutdown: (signal: string) => Promise<void>, graceMs: number): void {
  let stopping: { signal: NodeJS.Signals; at: number } | undefined;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Ctrl-C reaches every process of the terminal's group, and wrappers (npm, tsx) relay it once more: the same
      // signal within a second is that echo, not a person asking for an immediate exit.
      if (signal === stopping.signal && Date.now() - stopping.at < RELAYED_SIGNAL_MS) return;
      console.error(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = { signal, at: Date.now() };
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
