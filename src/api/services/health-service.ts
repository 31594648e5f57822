import type { DbHandle } from '../../db/client.js';
import type { TemporalAdapter } from '../../temporal/adapter.js';

/** What anyone may learn about a dependency: up or not. Why it is not goes to the log only. */
export interface DependencyStatus {
  ok: boolean;
  latencyMs: number;
}

export interface Readiness {
  ready: boolean;
  checks: { postgres: DependencyStatus; temporal: DependencyStatus };
}

/**
 * Readiness = PostgreSQL and Temporal both answer within a short timeout. The endpoint is anonymous, so a failure's
 * text (addresses, driver messages) is logged, never answered.
 */
export function createHealthService(deps: {
  db: Pick<DbHandle, 'ping'>;
  temporal: Pick<TemporalAdapter, 'ping'>;
  log: (dependency: 'postgres' | 'temporal', error: unknown) => void;
  timeoutMs?: number;
}) {
  const timeoutMs = deps.timeoutMs ?? 2000;
  return {
    async readiness(): Promise<Readiness> {
      const [postgres, temporal] = await Promise.all([
        probe(
          () => deps.db.ping(),
          timeoutMs,
          (error) => deps.log('postgres', error),
        ),
        probe(
          () => deps.temporal.ping(),
          timeoutMs,
          (error) => deps.log('temporal', error),
        ),
      ]);
      return { ready: postgres.ok && temporal.ok, checks: { postgres, temporal } };
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;

async function probe(
  check: () => Promise<unknown>,
  timeoutMs: number,
  log: (error: unknown) => void,
): Promise<DependencyStatus> {
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
    log(error);
    return { ok: false, latencyMs: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}
