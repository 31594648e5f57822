import type { DbHandle } from '../../db/client.js';
import type { TemporalAdapter } from '../../temporal/adapter.js';

export interface DependencyStatus {
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export interface Readiness {
  ready: boolean;
  checks: { postgres: DependencyStatus; temporal: DependencyStatus };
}

/** Readiness = PostgreSQL and Temporal both answer within a short timeout. */
export function createHealthService(deps: {
  db: Pick<DbHandle, 'ping'>;
  temporal: Pick<TemporalAdapter, 'ping'>;
  timeoutMs?: number;
}) {
  const timeoutMs = deps.timeoutMs ?? 2000;
  return {
    async readiness(): Promise<Readiness> {
      const [postgres, temporal] = await Promise.all([
        probe(() => deps.db.ping(), timeoutMs),
        probe(() => deps.temporal.ping(), timeoutMs),
      ]);
      return { ready: postgres.ok && temporal.ok, checks: { postgres, temporal } };
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;

async function probe(check: () => Promise<unknown>, timeoutMs: number): Promise<DependencyStatus> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: error instanceof Error ? error.message.split('\n')[0] : String(error),
    };
  } finally {
    clearTimeout(timer);
  }
}
