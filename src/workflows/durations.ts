/*
 * Durations as the DSL writes them (`"30s"`, `"15m"`, `"2h"`, `"3d"` or milliseconds). Pure: workflow code (delay
 * timers, retry policies) and the DSL's validation both use it.
 */

const DURATION_PATTERN = /^(\d+)(ms|s|m|h|d)$/;
export const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const MAX_DURATION_MS = 365 * UNIT_MS.d;
export const DURATION_FORMAT_MESSAGE = 'duration must look like "30s", "15m", "2h", "3d" or be milliseconds';

/** Milliseconds of a duration, or undefined when it is not one. */
export function durationToMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = DURATION_PATTERN.exec(value);
  if (!match?.[1] || !match[2]) return undefined;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/**
 * Converts a validated duration to milliseconds; throws on anything the DSL rejects (a definition that reached a
 * worker has been validated, so a throw here is a bug, not user input).
 */
export function parseDuration(value: string | number): number {
  const ms = durationToMs(value);
  if (ms === undefined) throw new Error(`${DURATION_FORMAT_MESSAGE}, got ${JSON.stringify(value)}`);
  return ms;
}

/** "2h 30m" style, for messages only. */
export function formatMs(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  const units: [string, number][] = [
    ['d', UNIT_MS.d],
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
  ];
  let rest = Math.round(ms / 1_000) * 1_000;
  const out: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return out.join(' ');
}
