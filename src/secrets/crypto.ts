import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

/*
 * Encryption at rest of account secrets and of webhook tokens and signing secrets: AES-256-GCM, a fresh random
 * 96-bit IV per encryption, and additional authenticated data binding each ciphertext to its purpose, owner and name,
 * so a row copied to another account or workflow, renamed, or moved from one kind of value to another in the
 * database does not decrypt.
 *
 * Stored layout (format 1), one byte string:
 *
 *   offset  size  field
 *   0       1     format version (1)
 *   1       1     key id (1–255): which SECRETS_ENCRYPTION_KEY encrypted it, so the key can rotate later
 *   2       12    IV
 *   14      n     ciphertext (n = UTF-8 length of the value)
 *   14+n    16    GCM authentication tag
 *
 * The two header bytes are part of the authenticated data as well: changing any byte of the blob fails decryption.
 */

const FORMAT_VERSION = 1;
const HEADER_BYTES = 2;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Separates each kind of value's AAD from any other use of the same key: `hookflow/<purpose>/v1`. */
const aadLabel = (purpose: SecretPurpose) => Buffer.from(`hookflow/${purpose}/v1`, 'utf8');

/** Length of an AES-256 key. */
export const SECRETS_KEY_BYTES = 32;

/** The key id of the key configured in SECRETS_ENCRYPTION_KEY (a rotation scheme can introduce more ids). */
export const CURRENT_SECRETS_KEY_ID = 1;

/** An AES-256 key and the id recorded in every ciphertext it makes. */
export interface SecretsKey {
  /** 1–255. */
  id: number;
  /** A KeyObject, so an accidentally logged config or key prints `SecretKeyObject`, not the key bytes. */
  key: KeyObject;
}

/**
 * What a value is: `secret`, an account secret (DESIGN §7), or `webhook`, a workflow's webhook token or signing
 * secret (src/secrets/webhook-credentials.ts).
 */
export type SecretPurpose = 'secret' | 'webhook';

/** What a ciphertext is bound to: decryption under any other purpose, owner or name fails. */
export interface SecretContext {
  /** Default `secret`: account secrets, whose stored ciphertexts predate the other purposes. */
  purpose?: SecretPurpose;
  /** The record the value belongs to: the account for account secrets, the workflow for webhook credentials. */
  ownerId: string;
  name: string;
}

/** A stored secret that cannot be decrypted. The message never contains key material or plaintext. */
export class SecretDecryptionError extends Error {
  constructor(
    readonly reason: 'malformed' | 'unknown-key' | 'authentication-failed',
    message: string,
  ) {
    super(message);
    this.name = 'SecretDecryptionError';
  }
}

/**
 * Reads a 32-byte key given as base64 (standard or URL-safe, padding optional) or as 64 hex characters. Returns an
 * error message (without the key) when the text is neither or does not decode to 32 bytes.
 */
export function decodeSecretsKey(text: string): { key: KeyObject } | { error: string } {
  const value = text.trim();
  const hint = 'generate one with `openssl rand -base64 32`';
  let bytes: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(value)) {
    bytes = Buffer.from(value, 'hex');
  } else if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) || /^[A-Za-z0-9_-]+={0,2}$/.test(value)) {
    // Node's base64 decoder reads both alphabets.
    bytes = Buffer.from(value, 'base64');
  } else {
    return { error: `must be 32 random bytes as base64 (44 characters) or 64 hex characters; ${hint}` };
  }
  if (bytes.length !== SECRETS_KEY_BYTES) {
    return {
      error: `must decode to ${SECRETS_KEY_BYTES} bytes (AES-256), got ${bytes.length}; ${hint}`,
    };
  }
  return { key: createSecretKey(bytes) };
}

/** Wraps raw key bytes (tests, key generation) into a SecretsKey. */
export function secretsKeyFromBytes(bytes: Uint8Array, id = CURRENT_SECRETS_KEY_ID): SecretsKey {
  if (bytes.length !== SECRETS_KEY_BYTES) throw new Error(`a secrets key is ${SECRETS_KEY_BYTES} bytes`);
  assertKeyId(id);
  return { id, key: createSecretKey(Buffer.from(bytes)) };
}

/** Encrypts `plaintext` for `context` with a fresh random IV. */
export function encryptSecret(plaintext: string, context: SecretContext, key: SecretsKey): Buffer {
  assertKeyId(key.id);
  const header = Buffer.from([FORMAT_VERSION, key.id]);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, context));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([header, iv, ciphertext, cipher.getAuthTag()]);
}

/**
 * Decrypts a blob made by encryptSecret for the same context, with the key whose id it records (`keys` may hold
 * old keys during a rotation). Throws SecretDecryptionError when the blob is malformed, names a key that is not
 * given, or fails authentication (altered bytes, another owner or name, or another key under the same id).
 */
export function decryptSecret(
  blob: Uint8Array,
  context: SecretContext,
  keys: SecretsKey | readonly SecretsKey[],
): string {
  const data = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (data.length < HEADER_BYTES + IV_BYTES + TAG_BYTES || data[0] !== FORMAT_VERSION) {
    throw new SecretDecryptionError(
      'malformed',
      `The stored secret ${context.name} is not in a format this version of Hookflow can read.`,
    );
  }
  const keyId = data[1];
  const keyring: readonly SecretsKey[] = 'key' in keys ? [keys] : keys;
  const key = keyring.find((candidate) => candidate.id === keyId);
  if (!key) {
    throw new SecretDecryptionError(
      'unknown-key',
      `The stored secret ${context.name} was encrypted with key id ${keyId}, which is not configured.`,
    );
  }
  const header = data.subarray(0, HEADER_BYTES);
  const iv = data.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const ciphertext = data.subarray(HEADER_BYTES + IV_BYTES, data.length - TAG_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(header, context));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretDecryptionError(
      'authentication-failed',
      `The stored secret ${context.name} cannot be decrypted: SECRETS_ENCRYPTION_KEY is not the key it was ` +
        'stored with, or the stored row was altered.',
    );
  }
}

/** label ‖ header ‖ len(ownerId) ‖ ownerId ‖ len(name) ‖ name, lengths as 16-bit big-endian: unambiguous. */
function additionalData(header: Buffer, context: SecretContext): Buffer {
  const field = (value: string) => {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > 0xffff) throw new Error('secret context field too long');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const label = aadLabel(context.purpose ?? 'secret');
  return Buffer.concat([label, header, field(context.ownerId), field(context.name)]);
}

function assertKeyId(id: number): void {
  if (!Number.isInteger(id) || id < 1 || id > 255) throw new Error('a secrets key id is an integer 1–255');
}
