import { and, desc, eq, gt, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../client.js';
import { workflows, workflowVersions, type WebhookSigning } from '../schema.js';
import type { Schedule } from '../../dsl/schedule.js';
import type { Step } from '../../dsl/schema.js';
import type { SealedWebhook } from '../../secrets/webhook-credentials.js';

/** A workflow's head joined with its current version: what the API shows and what a run snapshots. */
export interface WorkflowRecord {
  id: string;
  ownerId: string;
  name: string;
  description: string;
  enabled: boolean;
  version: number;
  steps: Step[];
  schedule: Schedule | null;
  /** The token, encrypted (src/secrets/webhook-credentials.ts): the repository never sees webhook plaintext. */
  webhookTokenCiphertext: Buffer;
  webhookSigning: WebhookSigning;
  /** The signing secret, encrypted; null only for workflows that never had one. */
  webhookSecretCiphertext: Buffer | null;
  /** Until when the token a rotation replaced is still accepted; null: no previous token. */
  previousWebhookExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface DefinitionFields {
  name: string;
  description: string;
  enabled: boolean;
  signing: WebhookSigning;
  schedule: Schedule | null;
  steps: Step[];
}

const recordColumns = {
  id: workflows.id,
  ownerId: workflows.ownerId,
  name: workflowVersions.name,
  description: workflowVersions.description,
  enabled: workflows.enabled,
  version: workflows.currentVersion,
  steps: workflowVersions.steps,
  schedule: workflowVersions.schedule,
  webhookTokenCiphertext: workflows.webhookTokenCiphertext,
  webhookSigning: workflows.webhookSigning,
  webhookSecretCiphertext: workflows.webhookSecretCiphertext,
  previousWebhookExpiresAt: workflows.previousWebhookExpiresAt,
  createdAt: workflows.createdAt,
  updatedAt: workflows.updatedAt,
};

export function createWorkflowRepo(db: Db) {
  /** Workflows joined with their current version; `columns` replaces the record's (it must include them). */
  const selectRecords = <Columns extends typeof recordColumns>(columns: Columns = recordColumns as Columns) =>
    db
      .select(columns)
      .from(workflows)
      .innerJoin(
        workflowVersions,
        and(
          eq(workflowVersions.workflowId, workflows.id),
          eq(workflowVersions.version, workflows.currentVersion),
        ),
      );

  async function findOwned(ownerId: string, id: string): Promise<WorkflowRecord | undefined> {
    const [row] = await selectRecords()
      .where(and(eq(workflows.id, id), eq(workflows.ownerId, ownerId), isNull(workflows.deletedAt)))
      .limit(1);
    return row;
  }

  return {
    findOwned,

    /**
     * The workflow behind a webhook token, given as its lookup hash, deleted ones excluded: its current token, or the
     * one its last rotation replaced while that is in its grace period (then `webhookSecretCiphertext` is the secret
     * that went with it, so a sender still on the old pair keeps passing the signature check).
     */
    async findByWebhookTokenHash(tokenHash: string, now = new Date()): Promise<WorkflowRecord | undefined> {
      const [row] = await selectRecords({
        ...recordColumns,
        webhookTokenHash: workflows.webhookTokenHash,
        previousWebhookSecretCiphertext: workflows.previousWebhookSecretCiphertext,
      })
        .where(
          and(
            or(
              eq(workflows.webhookTokenHash, tokenHash),
              and(
                eq(workflows.previousWebhookTokenHash, tokenHash),
                gt(workflows.previousWebhookExpiresAt, now),
              ),
            ),
            isNull(workflows.deletedAt),
          ),
        )
        .limit(1);
      if (!row) return undefined;
      const { webhookTokenHash, previousWebhookSecretCiphertext, ...record } = row;
      return webhookTokenHash === tokenHash
        ? record
        : { ...record, webhookSecretCiphertext: previousWebhookSecretCiphertext };
    },

    /** Newest first; `after` is the last item of the previous page. */
    async listOwned(ownerId: string, limit: number, after?: { createdAt: Date; id: string }) {
      return selectRecords()
        .where(
          and(
            eq(workflows.ownerId, ownerId),
            isNull(workflows.deletedAt),
            after
              ? or(
                  lt(workflows.createdAt, after.createdAt),
                  and(eq(workflows.createdAt, after.createdAt), lt(workflows.id, after.id)),
                )
              : undefined,
          ),
        )
        .orderBy(desc(workflows.createdAt), desc(workflows.id))
        .limit(limit);
    },

    /**
     * What a workflow's Temporal Schedule must be made of: its current record, with `deleted` set for a deleted
     * one (whose Schedule must go). Undefined when there never was such a workflow.
     */
    async findForSchedule(id: string): Promise<(WorkflowRecord & { deleted: boolean }) | undefined> {
      const [row] = await db
        .select({ ...recordColumns, deletedAt: workflows.deletedAt })
        .from(workflows)
        .innerJoin(
          workflowVersions,
          and(
            eq(workflowVersions.workflowId, workflows.id),
            eq(workflowVersions.version, workflows.currentVersion),
          ),
        )
        .where(eq(workflows.id, id))
        .limit(1);
      if (!row) return undefined;
      const { deletedAt, ...record } = row;
      return { ...record, deleted: deletedAt !== null };
    },

    /** Ids of the workflows (not deleted) whose current version has a schedule. */
    async listScheduledIds(): Promise<string[]> {
      const rows = await selectRecords()
        .where(and(isNull(workflows.deletedAt), isNotNull(workflowVersions.schedule)))
        .orderBy(workflows.id);
      return rows.map((row) => row.id);
    },

    /** A saved version, kept forever (runs name the version they ran), even after the workflow is deleted. */
    async findVersion(workflowId: string, version: number) {
      const [row] = await db
        .select()
        .from(workflowVersions)
        .where(and(eq(workflowVersions.workflowId, workflowId), eq(workflowVersions.version, version)))
        .limit(1);
      return row;
    },

    /** `id` is chosen by the caller: the webhook's ciphertexts are bound to it before the row exists. */
    async create(
      ownerId: string,
      id: string,
      fields: DefinitionFields,
      webhook: SealedWebhook,
    ): Promise<WorkflowRecord> {
      await db.transaction(async (tx) => {
        const [head] = await tx
          .insert(workflows)
          .values({
            id,
            ownerId,
            currentVersion: 1,
            enabled: fields.enabled,
            webhookTokenHash: webhook.tokenHash,
            webhookTokenCiphertext: webhook.tokenCiphertext,
            webhookSigning: fields.signing,
            webhookSecretCiphertext: webhook.secretCiphertext,
          })
          .returning({ id: workflows.id });
        if (!head) throw new Error('insert returned no row');
        await tx.insert(workflowVersions).values({
          workflowId: head.id,
          version: 1,
          name: fields.name,
          description: fields.description,
          steps: fields.steps,
          schedule: fields.schedule,
        });
      });
      return (await findOwned(ownerId, id))!;
    },

    /**
     * Saves a new immutable version and moves the head to it. The head row is locked first, so two concurrent
     * edits get versions n+1 and n+2 rather than colliding.
     */
    async replace(
      ownerId: string,
      id: string,
      fields: DefinitionFields,
    ): Promise<WorkflowRecord | undefined> {
      const updated = await db.transaction(async (tx) => {
        const [head] = await tx
          .select({ currentVersion: workflows.currentVersion })
          .from(workflows)
          .where(and(eq(workflows.id, id), eq(workflows.ownerId, ownerId), isNull(workflows.deletedAt)))
          .for('update');
        if (!head) return false;
        const version = head.currentVersion + 1;
        await tx.insert(workflowVersions).values({
          workflowId: id,
          version,
          name: fields.name,
          description: fields.description,
          steps: fields.steps,
          schedule: fields.schedule,
        });
        await tx
          .update(workflows)
          .set({
            currentVersion: version,
            enabled: fields.enabled,
            webhookSigning: fields.signing,
            updatedAt: new Date(),
          })
          .where(eq(workflows.id, id));
        return true;
      });
      return updated ? findOwned(ownerId, id) : undefined;
    },

    async softDelete(ownerId: string, id: string): Promise<boolean> {
      const rows = await db
        .update(workflows)
        .set({ deletedAt: new Date(), enabled: false })
        .where(and(eq(workflows.id, id), eq(workflows.ownerId, ownerId), isNull(workflows.deletedAt)))
        .returning({ id: workflows.id });
      return rows.length > 0;
    },

    /**
     * Issues a new token and secret (sealed for this workflow's id). The replaced pair stays valid for `graceMs` (0:
     * it stops at once); a second rotation within that time ends the first pair's grace, since only one previous
     * pair is kept. The replaced pair moves over as stored (hash and ciphertext): nothing is decrypted.
     */
    async rotateWebhook(
      ownerId: string,
      id: string,
      webhook: SealedWebhook,
      graceMs: number,
    ): Promise<WorkflowRecord | undefined> {
      const now = new Date();
      const rows = await db
        .update(workflows)
        .set({
          previousWebhookTokenHash: graceMs > 0 ? sql`${workflows.webhookTokenHash}` : null,
          previousWebhookSecretCiphertext: graceMs > 0 ? sql`${workflows.webhookSecretCiphertext}` : null,
          previousWebhookExpiresAt: graceMs > 0 ? new Date(now.getTime() + graceMs) : null,
          webhookTokenHash: webhook.tokenHash,
          webhookTokenCiphertext: webhook.tokenCiphertext,
          webhookSecretCiphertext: webhook.secretCiphertext,
          updatedAt: now,
        })
        .where(and(eq(workflows.id, id), eq(workflows.ownerId, ownerId), isNull(workflows.deletedAt)))
        .returning({ id: workflows.id });
      return rows.length > 0 ? findOwned(ownerId, id) : undefined;
    },
  };
}

export type WorkflowRepo = ReturnType<typeof createWorkflowRepo>;
