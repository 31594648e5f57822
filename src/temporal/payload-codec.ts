import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { decodeSecretsKey } from '../secrets/crypto.js';

/*
 * Encryption of everything Hookflow puts into Temporal payloads (run inputs with webhook bodies, step results, memos,
 * query answers, failure details): AES-256-GCM with a fresh random 96-bit IV per payload. The whole original payload
 * (metadata and data) is serialized and encrypted, so nothing of it (not even its encoding) is readable in the
 * history at rest, over gRPC or in the database.
 *
 * An encrypted payload:
 *   metadata  encoding = "binary/encrypted", encryption-key-id = the id of the key in PAYLOAD_ENCRYPTION_KEYS
 *   data      IV (12) | ciphertext | GCM tag (16); the key id is authenticated data, so relabelling fails
 *
 * Decoding leaves payloads without that encoding as they are: runs started before encryption was switched on keep
 * reading. Keys rotate by putting a new one first (it encrypts) and keeping the old ones after it (they decrypt).
 */

// A CommonJS module whose named exports Node cannot detect: take them off the default export.
const { Payload: PayloadMessage } = proto.temporal.api.common.v1;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface PayloadKey {
  id: string;
  /** A KeyObject, so a logged config prints `SecretKeyObject`, never the key bytes. */
  key: KeyObject;
}

/**
 * Parses PAYLOAD_ENCRYPTION_KEYS: `id:key,id:key,...`, each key 32 bytes as base64 or 64 hex characters. The first
 * one encrypts. Returns an error message (never containing key material) when the text is not that.
 */
export function parsePayloadKeys(value: string): { keys: PayloadKey[] } | { error: string } {
  const keys: PayloadKey[] = [];
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0)
    return { error: 'expected id:key[,id:key...], e.g. k1:<32 random bytes, base64>' };
  for (const [index, entry] of entries.entries()) {
    const separator = entry.indexOf(':');
    const id = separator === -1 ? '' : entry.slice(0, separator);
    if (!KEY_ID_PATTERN.test(id)) {
      return {
        error: `entry ${index + 1}: expected id:key with an id of letters, digits, '.', '_' or '-' (at most 64), e.g. k1:<base64 key>`,
      };
    }
    if (keys.some((key) => key.id === id))
      return { error: `entry ${index + 1}: key id "${id}" appears twice` };
    const decoded = decodeSecretsKey(entry.slice(separator + 1));
    if ('error' in decoded) return { error: `key "${id}": ${decoded.error}` };
    keys.push({ id, key: decoded.key });
  }
  return { keys };
}

/** A payload that cannot be decrypted. The message never contains key material or plaintext. */
export class PayloadDecryptionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PayloadDecryptionError';
  }
}

const metadataText = (payload: Payload, name: string) => {
  const value = payload.metadata?.[name];
  return value ? Buffer.from(value).toString('utf8') : undefined;
};

export function isEncrypted(payload: Payload): boolean {
  return metadataText(payload, 'encoding') === ENCRYPTED_ENCODING;
}

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly encryptingKey: PayloadKey;
  private readonly keysById: Map<string, KeyObject>;

  constructor(keys: PayloadKey[]) {
    const [first] = keys;
    if (!first) throw new Error('AesGcmPayloadCodec needs at least one key');
    this.encryptingKey = first;
    this.keysById = new Map(keys.map((key) => [key.id, key.key]));
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return settled(() => payloads.map((payload) => this.encrypt(payload)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return settled(() => payloads.map((payload) => (isEncrypted(payload) ? this.decrypt(payload) : payload)));
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.encryptingKey;
    const plaintext = PayloadMessage.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        encoding: Buffer.from(ENCRYPTED_ENCODING, 'utf8'),
        [KEY_ID_METADATA]: Buffer.from(id, 'utf8'),
      },
      data: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]),
    };
  }

  private decrypt(payload: Payload): Payload {
    const id = metadataText(payload, KEY_ID_METADATA) ?? '';
    const key = this.keysById.get(id);
    if (!key) {
      throw new PayloadDecryptionError(
        `payload encrypted with key "${id}", which is not in PAYLOAD_ENCRYPTION_KEYS (keep retired keys after the current one)`,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('encrypted payload too short');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(id, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plaintext = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return PayloadMessage.decode(plaintext);
    } catch (error) {
      throw new PayloadDecryptionError(`payload encrypted with key "${id}" failed authentication`, {
        cause: error,
      });
    }
  }
}

/** The codec interface is asynchronous: a failure must reject the promise, not throw at the call. */
function settled<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
