import { createHmac, timingSafeEqual } from 'node:crypto';

/** Standard Webhooks (https://www.standardwebhooks.com) allows this much clock skew either way. */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** HMAC-SHA256 over `id.timestamp.` and then the body's bytes as they are (a string is taken as UTF-8). */
function signatureOf(secret: string, id: string, timestamp: string | number, rawBody: Uint8Array | string) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(rawBody).digest();
}

/**
 * Verifies a Standard Webhooks signature: HMAC-SHA256 over `id.timestamp.body` with the base64 key after `whsec_`.
 * The body is the request's raw bytes: they need not be valid UTF-8 (decoding them first would replace invalid
 * sequences and break a valid signature). The header may carry several space-separated `v1,<base64>` signatures
 * (the sender is rotating secrets): any one that matches is enough. Comparison is constant-time.
 */
export function verifyStandardWebhook(
  secret: string,
  headers: { id?: string; timestamp?: string; signature?: string },
  rawBody: Uint8Array | string,
  nowSeconds = Math.floor(Date.now() / 1000),
): SignatureCheck {
  if (!headers.id || !headers.timestamp || !headers.signature) {
    return {
      ok: false,
      reason: 'the webhook-id, webhook-timestamp and webhook-signature headers are all required',
    };
  }
  if (!/^\d{1,12}$/.test(headers.timestamp))
    return { ok: false, reason: 'webhook-timestamp must be Unix seconds' };
  const timestamp = Number(headers.timestamp);
  if (Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS) {
    return {
      ok: false,
      reason: 'webhook-timestamp is more than 5 minutes away from now (replayed or clock skew)',
    };
  }
  const expected = signatureOf(secret, headers.id, headers.timestamp, rawBody);
  for (const candidate of headers.signature.split(' ')) {
    const [version, signature] = candidate.split(',', 2);
    if (version !== 'v1' || !signature) continue;
    const given = Buffer.from(signature, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return { ok: false, reason: "no signature in webhook-signature matches this workflow's signing secret" };
}

/** Signs like a Standard Webhooks sender (used by tests and by clients' examples). */
export function signStandardWebhook(
  secret: string,
  id: string,
  timestamp: number,
  rawBody: Uint8Array | string,
): string {
  return `v1,${signatureOf(secret, id, timestamp, rawBody).toString('base64')}`;
}
