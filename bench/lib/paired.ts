import type { EndToEndResult } from './end-to-end.js';
import { ratio, round, type LoadResult } from './load.js';

/*
 * End to end against the one-activity ceiling in alternating rounds on one server: a ceiling measured minutes apart,
 * or on a fresh server, differs from end to end in more than Hookflow (the executions the server already holds,
 * whatever else the shared machine ran meanwhile), and that made a single ratio read anywhere from 0.54 to 1.08 in
 * one session (bench/RESULTS.md, 2026-12-02, fourth session). Each round measures end to end (the ceiling's worker
 * idle in a long poll), then the ceiling (Hookflow's processes idle); a goal reads the median of the rounds' ratios.
 */

/** Rounds per paired measure: an odd count, so the median is one round's ratio. */
export const PAIRED_ROUNDS = 3;

export interface PairedRound {
  /** The bare worker's one-activity runs on the same server. */
  ceiling: LoadResult;
  endToEnd: EndToEndResult | undefined;
  /** End to end ÷ that ceiling, both runs/s. */
  ratio: number | null;
}

/**
 * `PAIRED_ROUNDS` rounds of `endToEnd()` then `ceiling()`, in that order: the first round's end to end follows
 * whatever came before, as an unpaired phase would.
 */
export async function measurePaired(options: {
  endToEnd: (round: number) => Promise<EndToEndResult | undefined>;
  ceiling: (round: number) => Promise<LoadResult>;
}) {
  const rounds: PairedRound[] = [];
  for (let index = 1; index <= PAIRED_ROUNDS; index++) {
    const endToEnd = await options.endToEnd(index);
    const ceiling = await options.ceiling(index);
    rounds.push({ ceiling, endToEnd, ratio: ratio(endToEnd?.perSecond ?? 0, ceiling.perSecond) });
  }
  return summarizePaired(rounds);
}

export type PairedSummary = ReturnType<typeof summarizePaired>;

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? null)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** CPU ÷ runs/s of each process accounted (not the bench driver, not the machine's total), in ms per run. */
export function cpuPerRunMs(result: LoadResult | undefined): Record<string, number> {
  if (!result?.cpuCores || result.perSecond <= 0) return {};
  return Object.fromEntries(
    Object.entries(result.cpuCores)
      .filter(([role]) => role !== 'bench' && role !== 'machine')
      .map(([role, cores]) => [role, round((cores / result.perSecond) * 1000, 1)]),
  );
}

function summarizePaired(rounds: readonly PairedRound[]) {
  const ratios = rounds.flatMap((pair) => (pair.ratio === null ? [] : [pair.ratio]));
  return {
    rounds: rounds.map((pair) => ({
      ...pair,
      /** What one run cost each process: Temporal's and the worker's side by side with Hookflow's. */
      cpuPerRunMs: { ceiling: cpuPerRunMs(pair.ceiling), endToEnd: cpuPerRunMs(pair.endToEnd) },
    })),
    medianRatio: median(ratios),
    minRatio: ratios.length > 0 ? Math.min(...ratios) : null,
    maxRatio: ratios.length > 0 ? Math.max(...ratios) : null,
  };
}
