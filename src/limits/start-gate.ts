/**
 * How many run starts one API process has in flight to Temporal at once (RUN_START_CONCURRENCY); the others wait for
 * a turn, in arrival order, with nothing acknowledged to their callers yet.
 *
 * Why: Temporal serves the starts and the work of the runs already started from the same persistence (on the
 * embedded default, the dev server's SQLite connection: Temporal's SQLite plugin opens one, so it serves one
 * request at a time). Sixteen webhook callers posting as fast as they were answered kept sixteen starts queued there:
 * 107-114 starts/s, while the runs already accepted sent 15-16 emails/s against 39-40/s once the callers stopped (0.4
 * of the drain rate). With at most four starts at a time the same callers were answered at 64-72/s (each waiting
 * ~250 ms instead of ~150) and the runs kept 0.62-0.91 of their drain rate; with two, 30-42/s and 0.61-0.86
 * (bench/RESULTS.md, "2026-12-02"). One caller at a time never waits: the gate only orders concurrent starts.
 */
export interface StartGate {
  /**
   * Resolves with a release function once this start may go, or with undefined if no turn came by `waitUntil`
   * (epoch ms): then nothing was started, and the caller is answered 503.
   */
  enter(waitUntil: number): Promise<(() => void) | undefined>;
  /** Starts in flight, and starts waiting for a turn (for tests and metrics). */
  readonly inFlight: number;
  readonly waiting: number;
}

/** A gate letting `limit` starts through at once; 0 lets every start through at once (still counted). */
export function createStartGate(limit: number): StartGate {
  const maxInFlight = limit > 0 ? limit : Number.POSITIVE_INFINITY;
  let inFlight = 0;
  const waiters: { admit: () => void; timer: NodeJS.Timeout }[] = [];

  const release = () => {
    const next = waiters.shift();
    if (next) {
      // The turn passes straight on: inFlight stays as it is.
      clearTimeout(next.timer);
      next.admit();
    } else {
      inFlight--;
    }
  };
  /** A release function that counts once, however often it is called. */
  const releaseOnce = () => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
    };
  };

  return {
    enter(waitUntil) {
      if (inFlight < maxInFlight) {
        inFlight++;
        return Promise.resolve(releaseOnce());
      }
      return new Promise((resolve) => {
        const waiter = {
          admit: () => resolve(releaseOnce()),
          timer: setTimeout(
            () => {
              waiters.splice(waiters.indexOf(waiter), 1);
              resolve(undefined);
            },
            Math.max(0, waitUntil - Date.now()),
          ),
        };
        waiters.push(waiter);
      });
    },
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return waiters.length;
    },
  };
}
