import { closedLoop, ratio, summarizeLatencies, type LoadResult } from './load.js';
import { startCpuAccount, type CpuAccount } from './cpu.js';

/**
 * Watches what a fake received (emails accepted by the fake Resend, requests reaching the http target) and resolves
 * the bench's waiters by the run's sequence number, which each run carries from its webhook body.
 */
export function createArrivalWatcher<T>(
  received: () => readonly T[],
  /** The run's sequence number (undefined for anything else) and the fake's arrival time (epoch ms). */
  read: (item: T) => { seq: number | undefined; at: number },
) {
  const arrivals = new Map<number, number>();
  const waiters = new Map<number, () => void>();
  // What arrived before (an earlier phase's runs, numbered from 1 too) is not this watcher's.
  let seen = received().length;
  const scan = () => {
    const items = received();
    for (; seen < items.length; seen++) {
      const item = items[seen];
      if (item === undefined) continue;
      const { seq, at } = read(item);
      if (seq === undefined || !Number.isInteger(seq)) continue;
      arrivals.set(seq, at);
      waiters.get(seq)?.();
      waiters.delete(seq);
    }
  };
  const timer = setInterval(scan, 5);
  return {
    arrivals,
    /** Resolves with the arrival time (epoch ms); rejects after `timeoutMs`. */
    waitFor(seq: number, timeoutMs: number): Promise<number> {
      scan();
      const known = arrivals.get(seq);
      if (known !== undefined) return Promise.resolve(known);
      return new Promise((resolve, reject) => {
        const timeout = setTimeout(() => {
          waiters.delete(seq);
          reject(new Error(`nothing arrived for run ${seq} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.set(seq, () => {
          clearTimeout(timeout);
          resolve(arrivals.get(seq) ?? Date.now());
        });
      });
    },
    stop: () => clearInterval(timer),
  };
}

export type ArrivalWatcher = ReturnType<typeof createArrivalWatcher>;

/**
 * Posts numbered webhooks (`{email, name, seq}`) and times each run from the hit to its arrival at the fake. Every
 * answer is counted by HTTP status (`error` when none came: a refused connection, a timeout), for the non-2xx
 * diagnosis.
 */
export function createWebhookDriver(hookUrl: string, watcher: ArrivalWatcher) {
  let nextSeq = 1;
  const sentAt = new Map<number, number>();
  const statuses: Record<string, number> = {};
  const count = (status: string) => (statuses[status] = (statuses[status] ?? 0) + 1);
  return {
    watcher,
    statuses,
    nextSeq: () => nextSeq++,
    async deliver(seq: number): Promise<void> {
      sentAt.set(seq, Date.now());
      let response: Response;
      try {
        response = await fetch(hookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'bench@example.com', name: 'Bench', seq }),
          // The same bound the run's arrival gets: a hung request fails the operation instead of the phase.
          signal: AbortSignal.timeout(30_000),
        });
      } catch (error) {
        count('error');
        throw error;
      }
      const text = await response.text();
      count(String(response.status));
      if (response.status !== 202) throw new Error(`webhook answered ${response.status}: ${text}`);
    },
    /** Hit → arrival of one run in ms (the fake's clock); undefined until it arrived. */
    hitToArrivalOf(seq: number): number | undefined {
      const sent = sentAt.get(seq);
      const arrived = watcher.arrivals.get(seq);
      return sent !== undefined && arrived !== undefined ? arrived - sent : undefined;
    },
    /** Hit → arrival latencies of these runs, from the fake's clock. */
    hitToArrival(seqs: Iterable<number>) {
      const latencies: number[] = [];
      for (const seq of seqs) {
        const sent = sentAt.get(seq);
        const arrived = watcher.arrivals.get(seq);
        if (sent !== undefined && arrived !== undefined) latencies.push(arrived - sent);
      }
      return summarizeLatencies(latencies);
    },
  };
}

export type WebhookDriver = ReturnType<typeof createWebhookDriver>;

export type EndToEndResult = LoadResult & { ratioToRawOneActivity: number | null };

/**
 * Closed-loop end to end at each level: `concurrency` callers, each posting a webhook and waiting for its run's
 * arrival at the fake before the next. Keyed `c<concurrency>` like the one-activity ceiling it is compared with.
 */
export async function measureEndToEnd(options: {
  driver: WebhookDriver;
  levels: readonly { concurrency: number; durationS: number }[];
  warmupS: number;
  /** Processes (or groups of them) whose CPU is accounted during each measured run. */
  processes: Record<string, number | readonly number[] | undefined>;
  rawOneActivity: Record<string, LoadResult>;
  log: (message: string) => void;
  /** Names the phase in the log. */
  label: string;
}): Promise<Record<string, EndToEndResult>> {
  const { driver } = options;
  const results: Record<string, EndToEndResult> = {};
  for (const { concurrency, durationS } of options.levels) {
    options.log(`${options.label}, ${concurrency} run(s) in flight`);
    const measured: number[] = [];
    let cpu: CpuAccount | undefined;
    const result = await closedLoop({
      onMeasureStart: () => (cpu = startCpuAccount(options.processes)),
      concurrency,
      durationMs: durationS * 1000,
      warmupMs: options.warmupS * 1000,
      maxOps: 100_000,
      op: async (_, isMeasured) => {
        const seq = driver.nextSeq();
        await driver.deliver(seq);
        await driver.watcher.waitFor(seq, 30_000);
        if (isMeasured) measured.push(seq);
      },
    });
    // closedLoop's own latencies end at the watcher's notice; hit → arrival is taken from the fake's clock instead.
    results[`c${concurrency}`] = {
      ...result,
      cpuCores: cpu?.stop(),
      latencyMs: driver.hitToArrival(measured),
      ratioToRawOneActivity: ratio(
        result.perSecond,
        options.rawOneActivity[`c${concurrency}`]?.perSecond ?? 0,
      ),
    };
  }
  return results;
}
