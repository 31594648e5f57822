import { createHash, randomBytes } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lower case, unpadded: URL-safe and readable in the Temporal UI. */
function base32(bytes: Uint8Array, length: number): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0 && out.length < length) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * `run_` + 26 base32 characters (≥ 128 bits): the Hookflow run id, which is also the Temporal workflow id. A
 * scheduled run's id is its Schedule's prefix (a run id) plus the time it was due, which Temporal appends:
 * `run_…-2026-12-01T09:00:00Z`.
 */
export const RUN_ID_PATTERN = /^run_[a-z2-7]{26}(-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)?$/;

export function randomRunId(): string {
  return `run_${base32(randomBytes(17), 26)}`;
}

/**
 * The same inputs always give the same run id. Temporal refuses a second workflow with an id it has seen, so a
 * repeated webhook delivery (or a repeated retry request) cannot start a second run.
 */
export function derivedRunId(...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return `run_${base32(digest, 26)}`;
}

/** The prefix of every scheduled run of a workflow; Temporal appends `-<scheduled time>` to it. */
export function scheduledRunPrefix(workflowId: string): string {
  return derivedRunId(workflowId, 'schedule');
}

/** The id of the scheduled run due at `at` (to the second, as Temporal writes it). */
export function scheduledRunId(workflowId: string, at: Date): string {
  return `${scheduledRunPrefix(workflowId)}-${at.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}
