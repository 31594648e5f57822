import { z } from 'zod';
import type { SecretMetadata, SecretRepo } from '../../db/repos/secret-repo.js';
import { AppError, NotFoundError } from '../../errors.js';
import { encryptSecret, type SecretsKey } from '../../secrets/crypto.js';
import {
  MAX_SECRETS_PER_ACCOUNT,
  SECRET_NAME_PATTERN,
  SECRET_NAME_RULE,
  SECRET_VALUE_MAX_BYTES,
} from '../../secrets/names.js';

export const secretNameSchema = z
  .string()
  .regex(SECRET_NAME_PATTERN, `must be ${SECRET_NAME_RULE} (referenced as {{secrets.NAME}})`);

/** Validation messages never quote the value: they say what is wrong with it, not what it is. */
export const secretValueSchema = z
  .string({ error: 'must be a string' })
  .min(1, 'must not be empty')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= SECRET_VALUE_MAX_BYTES, {
    message: `must be at most ${SECRET_VALUE_MAX_BYTES} bytes (8 KiB) in UTF-8`,
  })
  .meta({ description: 'The secret value. Write-only: no answer ever contains it.', writeOnly: true });

/** A secret as the API shows it (DESIGN §3): its name and dates, never its value. */
export const secretResourceSchema = z.object({
  name: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type SecretResource = z.infer<typeof secretResourceSchema>;

export const secretNotFound = (name: string) =>
  new NotFoundError('SECRET_NOT_FOUND', `No secret ${name} in this account: see GET /v1/secrets.`);

const toResource = (secret: SecretMetadata): SecretResource => ({
  name: secret.name,
  createdAt: secret.createdAt.toISOString(),
  updatedAt: secret.updatedAt.toISOString(),
});

/**
 * Per-account secrets, as the API manages them: encrypted here before they reach the repository, never decrypted
 * (only the worker does, through src/secrets/resolver.ts). Nothing here logs, and no error contains a value.
 */
export function createSecretService(deps: {
  secrets: Pick<SecretRepo, 'upsert' | 'listNames' | 'delete'>;
  /** Encrypts new values. */
  key: SecretsKey;
  maxPerAccount?: number;
}) {
  const { secrets, key } = deps;
  const maxPerAccount = deps.maxPerAccount ?? MAX_SECRETS_PER_ACCOUNT;

  return {
    /** Creates or replaces a secret; the answer never contains the value. */
    async put(ownerId: string, name: string, value: string): Promise<SecretResource> {
      const ciphertext = encryptSecret(value, { ownerId, name }, key);
      const result = await secrets.upsert(ownerId, name, ciphertext, { maxPerOwner: maxPerAccount });
      if (result.status === 'limit-reached') {
        throw new AppError(
          'SECRET_LIMIT_REACHED',
          409,
          `This account already has ${result.limit} secrets, the most it may hold: delete one it no longer uses ` +
            '(DELETE /v1/secrets/:name) or replace an existing one (PUT with its name).',
        );
      }
      return toResource(result.secret);
    },

    async list(ownerId: string): Promise<{ items: SecretResource[] }> {
      return { items: (await secrets.listNames(ownerId)).map(toResource) };
    },

    async remove(ownerId: string, name: string): Promise<void> {
      if (!(await secrets.delete(ownerId, name))) throw secretNotFound(name);
    },
  };
}

export type SecretService = ReturnType<typeof createSecretService>;
