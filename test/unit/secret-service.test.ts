import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SecretRepo, StoredSecret, UpsertSecretResult } from '../../src/db/repos/secret-repo.js';
import { createSecretService } from '../../src/api/services/secret-service.js';
import { createSecretResolver } from '../../src/secrets/resolver.js';
import { AppError } from '../../src/errors.js';
import { SecretDecryptionError, secretsKeyFromBytes } from '../../src/secrets/crypto.js';

/** An in-memory repository with the real one's contract. */
function fakeRepo() {
  const rows = new Map<string, StoredSecret & { ownerId: string; createdAt: Date; updatedAt: Date }>();
  const id = (ownerId: string, name: string) => `${ownerId}/${name}`;
  const repo: Pick<SecretRepo, 'upsert' | 'listNames' | 'delete' | 'findValues'> = {
    upsert(ownerId, name, ciphertext, { maxPerOwner }): Promise<UpsertSecretResult> {
      const existing = rows.get(id(ownerId, name));
      const owned = [...rows.values()].filter((row) => row.ownerId === ownerId).length;
      if (!existing && owned >= maxPerOwner)
        return Promise.resolve({ status: 'limit-reached', limit: maxPerOwner });
      const now = new Date();
      const row = { ownerId, name, ciphertext, createdAt: existing?.createdAt ?? now, updatedAt: now };
      rows.set(id(ownerId, name), row);
      return Promise.resolve({ status: 'saved', secret: row, created: !existing });
    },
    listNames: (ownerId) =>
      Promise.resolve([...rows.values()].filter((row) => row.ownerId === ownerId).map((row) => ({ ...row }))),
    delete: (ownerId, name) => Promise.resolve(rows.delete(id(ownerId, name))),
    findValues: (ownerId, names) =>
      Promise.resolve(
        names.flatMap((name) => {
          const row = rows.get(id(ownerId, name));
          return row ? [{ name, ciphertext: row.ciphertext }] : [];
        }),
      ),
  };
  return { repo, rows };
}

const key = secretsKeyFromBytes(randomBytes(32));

describe('secret service', () => {
  it('stores ciphertext only, answers without the value, and resolves values for their owner only', async () => {
    const { repo, rows } = fakeRepo();
    const service = createSecretService({ secrets: repo, key });
    const resolver = createSecretResolver({ secrets: repo, key });
    const alice = randomUUID();
    const bob = randomUUID();

    const answer = await service.put(alice, 'API_TOKEN', 'tok_alice');
    expect(Object.keys(answer).sort()).toEqual(['createdAt', 'name', 'updatedAt']);
    const stored = [...rows.values()][0]!;
    expect(stored.ciphertext.includes(Buffer.from('tok_alice'))).toBe(false);

    const resolved = await resolver.resolveSecrets(alice, ['API_TOKEN', 'MISSING', 'API_TOKEN']);
    expect([...resolved.values]).toEqual([['API_TOKEN', 'tok_alice']]);
    expect(resolved.missing).toEqual(['MISSING']);

    const forBob = await resolver.resolveSecrets(bob, ['API_TOKEN']);
    expect(forBob.values.size).toBe(0);
    expect(forBob.missing).toEqual(['API_TOKEN']);
    expect((await resolver.resolveSecrets(alice, [])).values.size).toBe(0);
  });

  it('refuses to decrypt a row moved to another owner, naming the secret but not the value', async () => {
    const { repo, rows } = fakeRepo();
    const service = createSecretService({ secrets: repo, key });
    const resolver = createSecretResolver({ secrets: repo, key });
    const alice = randomUUID();
    const mallory = randomUUID();
    await service.put(alice, 'API_TOKEN', 'tok_alice');
    const row = rows.get(`${alice}/API_TOKEN`)!;
    rows.set(`${mallory}/API_TOKEN`, { ...row, ownerId: mallory });

    const error = await resolver.resolveSecrets(mallory, ['API_TOKEN']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretDecryptionError);
    expect((error as Error).message).toContain('API_TOKEN');
    expect((error as Error).message).not.toContain('tok_alice');
  });

  it('caps the number of secrets per account, while replacing an existing one still works', async () => {
    const { repo } = fakeRepo();
    const service = createSecretService({ secrets: repo, key, maxPerAccount: 2 });
    const owner = randomUUID();
    await service.put(owner, 'A', '1');
    await service.put(owner, 'B', '2');
    await service.put(owner, 'A', '3');
    const error = await service.put(owner, 'C', '4').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'SECRET_LIMIT_REACHED', statusCode: 409 });
    expect((await service.list(owner)).items.map((item) => item.name)).toEqual(['A', 'B']);
  });

  it('answers SECRET_NOT_FOUND when deleting a secret that is not there', async () => {
    const service = createSecretService({ secrets: fakeRepo().repo, key });
    await expect(service.remove(randomUUID(), 'NOPE')).rejects.toMatchObject({
      code: 'SECRET_NOT_FOUND',
      statusCode: 404,
    });
  });
});
