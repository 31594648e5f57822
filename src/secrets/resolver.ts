import { requireSetting, type Config } from '../config.js';
import type { DbHandle } from '../db/client.js';
import { createSecretRepo, type SecretRepo } from '../db/repos/secret-repo.js';
import { decryptSecret, type SecretsKey } from './crypto.js';

/** Decrypted values for a run's `{{secrets.NAME}}` placeholders, and the names the account does not have. */
export interface ResolvedSecrets {
  values: ReadonlyMap<string, string>;
  missing: string[];
}

/**
 * The worker's side of account secrets: decrypts the values an http step names, for the run's owner only, at send
 * time. Nothing here logs, and no error it raises contains a value.
 */
export function createSecretResolver(deps: { secrets: Pick<SecretRepo, 'findValues'>; key: SecretsKey }) {
  return {
    /**
     * The decrypted values of `names` in the owner's account. Names the account does not have are listed in
     * `missing`, in the order asked. Throws SecretDecryptionError (naming the secret, never its value) when a
     * stored value cannot be decrypted with `key`.
     */
    async resolveSecrets(ownerId: string, names: readonly string[]): Promise<ResolvedSecrets> {
      if (names.length === 0) return { values: new Map(), missing: [] };
      const stored = await deps.secrets.findValues(ownerId, names);
      const values = new Map<string, string>();
      for (const { name, ciphertext } of stored) {
        values.set(name, decryptSecret(ciphertext, { ownerId, name }, deps.key));
      }
      const missing = [...new Set(names)].filter((name) => !values.has(name));
      return { values, missing };
    },
  };
}

export type SecretResolver = ReturnType<typeof createSecretResolver>;

/**
 * The resolver of a worker, over the database the API stores secrets in: opened by this worker, or reached through
 * another thread that holds it (npm start's worker thread asks the thread with PGlite for the stored ciphertexts, and
 * decrypts them itself).
 */
export function secretResolverFor(
  config: Pick<Config, 'secrets'>,
  store: DbHandle | Pick<SecretRepo, 'findValues'>,
): SecretResolver {
  const key = requireSetting(
    config.secrets.encryptionKey,
    'SECRETS_ENCRYPTION_KEY',
    'The worker decrypts account secrets for http steps with it: the same key as the API.',
  );
  return createSecretResolver({ secrets: 'findValues' in store ? store : createSecretRepo(store.db), key });
}
