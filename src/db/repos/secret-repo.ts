import { and, asc, count, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { secrets, users } from '../schema.js';

/** What may be shown about a secret: never its value. */
export interface SecretMetadata {
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A stored ciphertext, for decryption by the caller (the repo never sees plaintext). */
export interface StoredSecret {
  name: string;
  ciphertext: Buffer;
}

export type UpsertSecretResult =
  { status: 'saved'; secret: SecretMetadata; created: boolean } | { status: 'limit-reached'; limit: number };

const metadataColumns = { name: secrets.name, createdAt: secrets.createdAt, updatedAt: secrets.updatedAt };

export function createSecretRepo(db: Db) {
  return {
    /**
     * Creates or replaces a secret. A new name is refused when the owner already holds `maxPerOwner` secrets; the
     * owner's user row is locked for the check, so concurrent creates cannot overshoot the limit.
     */
    async upsert(
      ownerId: string,
      name: string,
      ciphertext: Buffer,
      options: { maxPerOwner: number },
    ): Promise<UpsertSecretResult> {
      return db.transaction(async (tx) => {
        await tx.select({ id: users.id }).from(users).where(eq(users.id, ownerId)).for('update');
        const [existing] = await tx
          .select({ name: secrets.name })
          .from(secrets)
          .where(and(eq(secrets.ownerId, ownerId), eq(secrets.name, name)));
        if (!existing) {
          const [row] = await tx.select({ total: count() }).from(secrets).where(eq(secrets.ownerId, ownerId));
          if ((row?.total ?? 0) >= options.maxPerOwner) {
            return { status: 'limit-reached', limit: options.maxPerOwner } as const;
          }
        }
        const [secret] = await tx
          .insert(secrets)
          .values({ ownerId, name, ciphertext })
          .onConflictDoUpdate({
            target: [secrets.ownerId, secrets.name],
            set: { ciphertext, updatedAt: sql`now()` },
          })
          .returning(metadataColumns);
        if (!secret) throw new Error('upsert into secrets returned no row');
        return { status: 'saved', secret, created: !existing } as const;
      });
    },

    /** The owner's secrets by name, without values. */
    async listNames(ownerId: string): Promise<SecretMetadata[]> {
      return db
        .select(metadataColumns)
        .from(secrets)
        .where(eq(secrets.ownerId, ownerId))
        .orderBy(asc(secrets.name));
    },

    /** True when a secret was deleted. */
    async delete(ownerId: string, name: string): Promise<boolean> {
      const rows = await db
        .delete(secrets)
        .where(and(eq(secrets.ownerId, ownerId), eq(secrets.name, name)))
        .returning({ name: secrets.name });
      return rows.length > 0;
    },

    /** The owner's ciphertexts for `names` (those that exist; duplicates collapse). */
    async findValues(ownerId: string, names: readonly string[]): Promise<StoredSecret[]> {
      if (names.length === 0) return [];
      return db
        .select({ name: secrets.name, ciphertext: secrets.ciphertext })
        .from(secrets)
        .where(and(eq(secrets.ownerId, ownerId), inArray(secrets.name, [...new Set(names)])));
    },
  };
}

export type SecretRepo = ReturnType<typeof createSecretRepo>;
