import autocannon from 'autocannon';

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One measured load run: what came back, how fast, how long it took. */
export interface LoadResult {
  concurrency: number;
  durationS: number;
  /** Successful operations (2xx for HTTP). */
  ok: number;
  /** Non-2xx answers (HTTP) or rejected operations. */
  failed: number;
  /** Connection errors and timeouts (HTTP only). */
  errors: number;
  perSecond: number;
  latencyMs: LatencySummary;
  /** Answers by HTTP status, for the non-2xx diagnosis. */
  statuses?: Record<string, number>;
  firstError?: string;
  /** CPU used during the run, in cores, by process (see cpu.ts). */
  cpuCores?: Record<string, number>;
}

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
/** `value / ceiling` to three digits; null when there is no ceiling to compare with. */
const ratio = (value: number, ceiling: number) => (ceiling > 0 ? round(value / ceiling, 3) : null);

/** Exact percentiles (nearest rank) of the latencies seen; every measured run keeps well under a million. */
export function summarizeLatencies(values: number[]): LatencySummary {
  if (values.length === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    mean: round(sum / sorted.length),
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1] ?? 0),
  };
}

export interface HttpLoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationS: number;
  /** An unmeasured run first (JIT, connection pools, caches), in seconds. */
  warmupS?: number;
  /** Called when the measured part begins (after the warm-up). */
  onMeasureStart?: () => void;
}

/**
 * Closed-loop HTTP load with autocannon (each connection sends its next request when the previous one answered).
 * Latencies are collected per response, so p95 is exact rather than autocannon's fixed set of percentiles.
 */
export async function httpLoad(options: HttpLoadOptions): Promise<LoadResult> {
  const base = {
    url: options.url,
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined && { body: options.body }),
    connections: options.connections,
    timeout: 10,
  };
  if (options.warmupS) await autocannon({ ...base, duration: options.warmupS });
  options.onMeasureStart?.();
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let firstError: string | undefined;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ ...base, duration: options.durationS }, (error: unknown, done) =>
      error ? reject(error instanceof Error ? error : new Error('autocannon failed')) : resolve(done),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
    instance.on('reqError', (error: unknown) => {
      firstError ??= String(error);
    });
  });
  const ok = latencies.length;
  return {
    concurrency: options.connections,
    durationS: round(result.duration),
    ok,
    failed: result.non2xx,
    errors: result.errors,
    perSecond: round(ok / result.duration, 1),
    latencyMs: summarizeLatencies(latencies),
    statuses,
    ...(firstError !== undefined && { firstError }),
  };
}

export interface ClosedLoopOptions {
  concurrency: number;
  durationMs: number;
  /** Hard cap on operations, so a surprisingly fast system cannot make the run unbounded in memory. */
  maxOps?: number;
  warmupMs?: number;
  /** Called when the measured part begins (after the warm-up), e.g. to start CPU accounting. */
  onMeasureStart?: () => void;
  /** One operation; its promise's time is its latency. A rejection counts as failed. `measured` is false in warm-up. */
  op: (seq: number, measured: boolean) => Promise<void>;
}

/**
 * `concurrency` callers, each starting its next operation when the previous one finished, for `durationMs`
 * (or `maxOps` operations). Operations still running at the deadline are awaited and counted.
 */
export async function closedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  let seq = 0;
  const run = async (durationMs: number, record: boolean) => {
    const latencies: number[] = [];
    let failed = 0;
    let firstError: string | undefined;
    const started = performance.now();
    const deadline = started + durationMs;
    const maxOps = options.maxOps ?? Number.POSITIVE_INFINITY;
    let issued = 0;
    const caller = async () => {
      while (performance.now() < deadline && issued < maxOps) {
        issued += 1;
        const t0 = performance.now();
        try {
          await options.op(seq++, record);
          if (record) latencies.push(performance.now() - t0);
        } catch (error) {
          failed += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, caller));
    const elapsedS = (performance.now() - started) / 1000;
    return { latencies, failed, firstError, elapsedS };
  };
  if (options.warmupMs) await run(options.warmupMs, false);
  options.onMeasureStart?.();
  const { latencies, failed, firstError, elapsedS } = await run(options.durationMs, true);
  return {
    concurrency: options.concurrency,
    durationS: round(elapsedS),
    ok: latencies.length,
    failed,
    errors: 0,
    perSecond: round(latencies.length / elapsedS, 1),
    latencyMs: summarizeLatencies(latencies),
    ...(firstError !== undefined && { firstError }),
  };
}

export { ratio, round };
