import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encryptSecret, secretsKeyFromBytes } from '../../src/secrets/crypto.js';
import { createWebhookCredentials, WebhookCredentialError } from '../../src/secrets/webhook-credentials.js';

const keyBytes = randomBytes(32);
const credentials = createWebhookCredentials(secretsKeyFromBytes(keyBytes));
const token = `whk_${randomBytes(32).toString('base64url')}`;
const secret = `whsec_${randomBytes(32).toString('base64')}`;

function credentialError(fn: () => unknown): WebhookCredentialError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookCredentialError);
    return error as WebhookCredentialError;
  }
  throw new Error('expected decryption to fail');
}

describe('webhook token lookup hash', () => {
  it('is a keyed hash: the same under one key, another under another, and neither a plain hash nor the key itself', () => {
    const hash = credentials.tokenHash(token);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(credentials.tokenHash(token)).toBe(hash);
    expect(credentials.tokenHash(`${token}x`)).not.toBe(hash);
    expect(createWebhookCredentials(secretsKeyFromBytes(randomBytes(32))).tokenHash(token)).not.toBe(hash);
    // Someone with the dump and a candidate token cannot check it without the key...
    expect(createHash('sha256').update(token).digest('hex')).not.toBe(hash);
    // ...and the lookup key is derived (HKDF), not the encryption key used as is.
    expect(createHmac('sha256', keyBytes).update(token).digest('hex')).not.toBe(hash);
  });
});

describe('sealed webhook credentials', () => {
  const workflowId = randomUUID();
  const sealed = credentials.seal(workflowId, { token, secret });

  it('round-trip for their workflow and field, and hold neither value in the clear', () => {
    expect(sealed.tokenHash).toBe(credentials.tokenHash(token));
    expect(credentials.decrypt(workflowId, 'webhook-token', sealed.tokenCiphertext)).toBe(token);
    expect(credentials.decrypt(workflowId, 'webhook-secret', sealed.secretCiphertext)).toBe(secret);
    for (const stored of [sealed.tokenCiphertext, sealed.secretCiphertext]) {
      expect(stored.includes(Buffer.from(token))).toBe(false);
      expect(stored.includes(Buffer.from(secret))).toBe(false);
    }
  });

  it('do not decrypt for another workflow, in the other field, or as an account secret', () => {
    const attempts = [
      () => credentials.decrypt(randomUUID(), 'webhook-token', sealed.tokenCiphertext),
      () => credentials.decrypt(workflowId, 'webhook-secret', sealed.tokenCiphertext),
      () => credentials.decrypt(workflowId, 'webhook-token', sealed.secretCiphertext),
      // The same value, id and name encrypted as an account secret (purpose `secret`): not a webhook credential.
      () =>
        credentials.decrypt(
          workflowId,
          'webhook-token',
          encryptSecret(token, { ownerId: workflowId, name: 'webhook-token' }, secretsKeyFromBytes(keyBytes)),
        ),
    ];
    for (const attempt of attempts) {
      const error = credentialError(attempt);
      expect(error.reason).toBe('authentication-failed');
      expect(error.message).toContain('SECRETS_ENCRYPTION_KEY');
      for (const revealed of [token, secret, keyBytes.toString('base64'), keyBytes.toString('hex')]) {
        expect(error.message).not.toContain(revealed);
      }
    }
  });

  it('do not decrypt under another key', () => {
    const other = createWebhookCredentials(secretsKeyFromBytes(randomBytes(32)));
    expect(
      credentialError(() => other.decrypt(workflowId, 'webhook-token', sealed.tokenCiphertext)).reason,
    ).toBe('authentication-failed');
  });
});
