import { randomBytes, randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  decodeSecretsKey,
  decryptSecret,
  encryptSecret,
  SecretDecryptionError,
  secretsKeyFromBytes,
  type SecretContext,
} from '../../src/secrets/crypto.js';

const newKey = (id = 1) => secretsKeyFromBytes(randomBytes(32), id);
const context: SecretContext = { ownerId: randomUUID(), name: 'CRM_TOKEN' };
const VALUE = 'sk_live_0123456789abcdef';

function decryptionError(fn: () => unknown): SecretDecryptionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretDecryptionError);
    return error as SecretDecryptionError;
  }
  throw new Error('expected decryption to fail');
}

describe('encryptSecret / decryptSecret', () => {
  it('round-trips values, including multi-byte UTF-8 and 8 KiB', () => {
    const key = newKey();
    for (const value of [VALUE, 'x', 'päss wörd 🔑 秘密', 'é'.repeat(4096), 'a'.repeat(8192)]) {
      const blob = encryptSecret(value, context, key);
      expect(decryptSecret(blob, context, key)).toBe(value);
    }
  });

  it('records the format version and key id, and uses a fresh IV each time', () => {
    const key = newKey(7);
    const a = encryptSecret(VALUE, context, key);
    const b = encryptSecret(VALUE, context, key);
    expect(a[0]).toBe(1);
    expect(a[1]).toBe(7);
    // header (2) + IV (12) + ciphertext (value length) + tag (16)
    expect(a.length).toBe(2 + 12 + Buffer.byteLength(VALUE) + 16);
    expect(a.subarray(2, 14).equals(b.subarray(2, 14))).toBe(false);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from(VALUE))).toBe(false);
  });

  it('accepts a Uint8Array view (PGlite returns bytea that way)', () => {
    const key = newKey();
    const blob = encryptSecret(VALUE, context, key);
    const padded = new Uint8Array(blob.length + 8);
    padded.set(blob, 4);
    expect(decryptSecret(padded.subarray(4, 4 + blob.length), context, key)).toBe(VALUE);
  });

  it('detects a change to any byte: header, IV, ciphertext or tag', () => {
    const key = newKey();
    const blob = encryptSecret(VALUE, context, key);
    for (let index = 0; index < blob.length; index++) {
      const tampered = Buffer.from(blob);
      tampered[index] = tampered[index]! ^ 0x01;
      const error = decryptionError(() => decryptSecret(tampered, context, key));
      expect(error.message).not.toContain(VALUE);
    }
  });

  it('refuses truncated or extended blobs', () => {
    const key = newKey();
    const blob = encryptSecret(VALUE, context, key);
    expect(decryptionError(() => decryptSecret(blob.subarray(0, 29), context, key)).reason).toBe('malformed');
    expect(decryptionError(() => decryptSecret(blob.subarray(0, blob.length - 1), context, key)).reason).toBe(
      'authentication-failed',
    );
    expect(
      decryptionError(() => decryptSecret(Buffer.concat([blob, Buffer.from([0])]), context, key)).reason,
    ).toBe('authentication-failed');
  });

  it('binds the ciphertext to its owner and name (AAD): a copied or renamed row does not decrypt', () => {
    const key = newKey();
    const blob = encryptSecret(VALUE, context, key);
    for (const other of [
      { ...context, ownerId: randomUUID() },
      { ...context, name: 'CRM_TOKEN2' },
      { ...context, name: 'OTHER' },
      // Field boundaries are length-prefixed: moving characters between owner and name changes the AAD.
      { ownerId: `${context.ownerId}C`, name: 'RM_TOKEN' },
    ]) {
      const error = decryptionError(() => decryptSecret(blob, other, key));
      expect(error.reason).toBe('authentication-failed');
      expect(error.message).toContain(other.name);
      expect(error.message).not.toContain(VALUE);
    }
  });

  it('binds the ciphertext to its purpose: an account secret and a webhook credential never stand in for each other', () => {
    const key = newKey();
    const asSecret = encryptSecret(VALUE, context, key);
    const asWebhook = encryptSecret(VALUE, { ...context, purpose: 'webhook' }, key);
    expect(decryptSecret(asSecret, { ...context, purpose: 'secret' }, key)).toBe(VALUE);
    expect(decryptSecret(asWebhook, { ...context, purpose: 'webhook' }, key)).toBe(VALUE);
    expect(
      decryptionError(() => decryptSecret(asSecret, { ...context, purpose: 'webhook' }, key)).reason,
    ).toBe('authentication-failed');
    expect(decryptionError(() => decryptSecret(asWebhook, context, key)).reason).toBe(
      'authentication-failed',
    );
  });

  it('still decrypts account secrets stored before purposes existed (purpose `secret` is the old AAD)', () => {
    // Made by the previous build's encryptSecret (commit 37d2916) with this key, owner and name.
    const stored = Buffer.from(
      '010100412bbfdd27e02703a0caccee8ae1b2770b8acd87ca6a84e9f32e6862dc5e7eee5d267b9e4c54a4693756b9eeff3c56c103d34051ea06b14206',
      'hex',
    );
    const key = secretsKeyFromBytes(Buffer.alloc(32, 7));
    const owner = { ownerId: '00000000-0000-4000-8000-000000000001', name: 'CRM_TOKEN' };
    expect(decryptSecret(stored, owner, key)).toBe('sk_live_stored_before_purposes');
  });

  it('fails with another key under the same id, and names an unknown key id', () => {
    const blob = encryptSecret(VALUE, context, newKey(1));
    const wrong = decryptionError(() => decryptSecret(blob, context, newKey(1)));
    expect(wrong.reason).toBe('authentication-failed');
    expect(wrong.message).toContain('SECRETS_ENCRYPTION_KEY');
    const unknown = decryptionError(() => decryptSecret(blob, context, newKey(2)));
    expect(unknown.reason).toBe('unknown-key');
    expect(unknown.message).toContain('key id 1');
  });

  it('picks the key by id from a keyring, so an old key can keep decrypting after a rotation', () => {
    const old = newKey(1);
    const current = newKey(2);
    const before = encryptSecret('old value', context, old);
    const after = encryptSecret('new value', context, current);
    expect(decryptSecret(before, context, [current, old])).toBe('old value');
    expect(decryptSecret(after, context, [current, old])).toBe('new value');
  });

  it('refuses key ids outside 1–255 and keys that are not 32 bytes', () => {
    expect(() => secretsKeyFromBytes(randomBytes(32), 0)).toThrow(/1–255/);
    expect(() => secretsKeyFromBytes(randomBytes(32), 256)).toThrow(/1–255/);
    expect(() => secretsKeyFromBytes(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('decodeSecretsKey', () => {
  const bytes = randomBytes(32);

  it('reads base64 (padded or not, standard or URL-safe) and 64 hex characters', () => {
    for (const text of [
      bytes.toString('base64'),
      bytes.toString('base64').replace(/=+$/, ''),
      bytes.toString('base64url'),
      bytes.toString('hex'),
      bytes.toString('hex').toUpperCase(),
      ` ${bytes.toString('base64')}\n`,
    ]) {
      const decoded = decodeSecretsKey(text);
      expect('key' in decoded && decoded.key.export().equals(bytes), text).toBe(true);
    }
  });

  it('refuses other lengths and non-encodings with a message that says how to make one', () => {
    for (const text of [
      randomBytes(16).toString('base64'),
      randomBytes(33).toString('base64'),
      randomBytes(31).toString('hex'),
      'correct horse battery staple',
      'not base64 at all!',
    ]) {
      const decoded = decodeSecretsKey(text);
      expect('error' in decoded && decoded.error, text).toMatch(/openssl rand -base64 32/);
    }
    const short = decodeSecretsKey(randomBytes(16).toString('base64'));
    expect('error' in short && short.error).toContain('got 16');
  });

  it('gives a KeyObject that does not print its bytes', () => {
    const decoded = decodeSecretsKey(bytes.toString('base64'));
    if (!('key' in decoded)) throw new Error(decoded.error);
    const printed = inspect({ config: decoded.key }, { depth: 5 }) + JSON.stringify({ config: decoded.key });
    expect(printed).not.toContain(bytes.toString('hex'));
    expect(printed).not.toContain(bytes.toString('base64'));
  });
});
