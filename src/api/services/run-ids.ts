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

/** `run_` + 26 base32 characters (≥ 128 bits): the Hookflow run id, which is also the Temporal workflow id. */
export const RUN_ID_PATTERN = /^run_[a-z2-7]{26}$/;

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
