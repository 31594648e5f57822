import { createHmac, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { decryptSecret, encryptSecret, SecretDecryptionError, type SecretsKey } from './crypto.js';

/*
 * Webhook tokens and signing secrets at rest. A database dump alone reveals neither:
 *
 * - A token is found by its lookup hash, HMAC-SHA256 under a key derived from SECRETS_ENCRYPTION_KEY (HKDF, label
 *   below). A plain SHA-256 would do against guessing (tokens carry 256 random bits), but the HMAC also means that
 *   whoever holds a dump and a token (from a sender's logs, say) cannot tell from the dump alone which workflow it
 *   belongs to, or whether it is still valid.
 * - The token (the API shows the webhook URL to its owner) and the signing secret (verifying deliveries needs its
 *   value) are stored as ciphertexts of src/secrets/crypto.ts, purpose `webhook`, bound to the workflow id and the
 *   field: a ciphertext copied to another workflow's row, or from the token column to the secret's, does not
 *   decrypt. The previous pair of a rotation keeps its names (`webhook-token` has no ciphertext there, only the
 *   hash: nothing shows a rotated-out token), so a rotation moves the current pair to the previous columns in SQL.
 *
 * Losing SECRETS_ENCRYPTION_KEY therefore invalidates every webhook URL and signing secret, as it does account
 * secrets. The lookup key derives from the current key only: a future key rotation has to re-hash stored tokens.
 */

/** HKDF `info` of the lookup key: distinct from every other use of SECRETS_ENCRYPTION_KEY. */
const LOOKUP_KEY_INFO = 'hookflow/webhook-token-lookup/v1';

/** The two stored fields; the name is part of each ciphertext's authenticated data. */
export type WebhookCredentialField = 'webhook-token' | 'webhook-secret';

/** A webhook's credentials as the database stores them. */
export interface SealedWebhook {
  /** Hex HMAC-SHA256 of the token under the lookup key. */
  tokenHash: string;
  tokenCiphertext: Buffer;
  secretCiphertext: Buffer;
}

/** A stored webhook credential that cannot be decrypted; the message holds no key material and no value. */
export class WebhookCredentialError extends Error {
  constructor(
    readonly workflowId: string,
    readonly field: WebhookCredentialField,
    readonly reason: SecretDecryptionError['reason'],
  ) {
    super(
      `The stored ${field} of workflow ${workflowId} cannot be decrypted (${reason}): SECRETS_ENCRYPTION_KEY is ` +
        'not the key it was stored with, or the row was altered or copied from another workflow.',
    );
    this.name = 'WebhookCredentialError';
  }
}

/** The lookup key: 32 bytes of HKDF-SHA256 from the secrets key, with no salt (the input key is uniformly random). */
function lookupKeyOf(key: SecretsKey): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha256', key.key, Buffer.alloc(0), LOOKUP_KEY_INFO, 32)));
}

export function createWebhookCredentials(key: SecretsKey) {
  const lookupKey = lookupKeyOf(key);

  const tokenHash = (token: string): string => createHmac('sha256', lookupKey).update(token).digest('hex');

  const encrypt = (workflowId: string, field: WebhookCredentialField, value: string): Buffer =>
    encryptSecret(value, { purpose: 'webhook', ownerId: workflowId, name: field }, key);

  return {
    tokenHash,

    /** What the database stores for a new token and secret of workflow `workflowId`. */
    seal(workflowId: string, webhook: { token: string; secret: string }): SealedWebhook {
      return {
        tokenHash: tokenHash(webhook.token),
        tokenCiphertext: encrypt(workflowId, 'webhook-token', webhook.token),
        secretCiphertext: encrypt(workflowId, 'webhook-secret', webhook.secret),
      };
    },

    encrypt,

    /** The stored value; throws WebhookCredentialError when it does not decrypt for this workflow and field. */
    decrypt(workflowId: string, field: WebhookCredentialField, ciphertext: Uint8Array): string {
      try {
        return decryptSecret(ciphertext, { purpose: 'webhook', ownerId: workflowId, name: field }, key);
      } catch (error) {
        if (error instanceof SecretDecryptionError)
          throw new WebhookCredentialError(workflowId, field, error.reason);
        throw error;
      }
    },
  };
}

export type WebhookCredentials = ReturnType<typeof createWebhookCredentials>;
