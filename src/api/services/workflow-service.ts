import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { literalSenderDomain } from '../../email/sender-domains.js';
import { AppError, NotFoundError } from '../../errors.js';
import type { WorkflowRecord, WorkflowRepo } from '../../db/repos/workflow-repo.js';
import { scheduleViewSchema } from '../../dsl/schedule.js';
import type { WorkflowDefinition } from '../../dsl/schema.js';
import { WebhookCredentialError, type WebhookCredentials } from '../../secrets/webhook-credentials.js';
import type { ScheduleService } from './schedule-service.js';

/** The workflow resource of DESIGN §3. `signingSecret` only appears in the answers of create and rotate. */
export const workflowResourceSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  enabled: z.boolean(),
  version: z.number().int(),
  /** The clock trigger and Temporal's view of it (null: none). */
  schedule: scheduleViewSchema.nullable(),
  /**
   * The step list as saved (its rules are the request schema of POST /v1/workflows). Typed loosely here: a version
   * saved under older rules must still be shown, never answered with a 500 by the response check.
   */
  steps: z.array(z.looseObject({ id: z.string(), type: z.string() })),
  webhook: z.object({
    /** Null (with `error`) when the stored token cannot be decrypted: the workflow is shown, its URL is not. */
    url: z.string().nullable(),
    token: z.string().nullable(),
    signing: z.enum(['none', 'standard-webhooks']),
    /** After a rotation: until when the previous token and signing secret are still accepted. */
    previousTokenValidUntil: z.string().nullable().optional(),
    /** Why `url` and `token` are null, and how to repair it (rotate the webhook). */
    error: z.object({ code: z.literal('WEBHOOK_CREDENTIALS_UNREADABLE'), message: z.string() }).optional(),
  }),
  signingSecret: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type WorkflowResource = z.infer<typeof workflowResourceSchema>;

/** The answer of create and rotate: the webhook was sealed a moment before, so its URL and token are always there. */
export const createdWorkflowResourceSchema = workflowResourceSchema.extend({
  webhook: workflowResourceSchema.shape.webhook
    .omit({ error: true })
    .extend({ url: z.string(), token: z.string() }),
});
export type CreatedWorkflowResource = z.infer<typeof createdWorkflowResourceSchema>;

export const pageQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(512).optional(),
});

/** 256 random bits: unguessable, and it is the only credential an unsigned webhook has. */
const newWebhookToken = () => `whk_${randomBytes(32).toString('base64url')}`;
export const WEBHOOK_TOKEN_PATTERN = /^whk_[A-Za-z0-9_-]{43}$/;
/** Standard Webhooks secret format: `whsec_` + base64 of the key bytes. */
const newSigningSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string): unknown[] {
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(values)) return values;
  } catch {
    // fall through to the error below
  }
  throw new AppError(
    'INVALID_CURSOR',
    400,
    'The cursor is not one this API returned: pass nextCursor back unchanged.',
  );
}

/** Another user's workflow answers exactly like a missing one: ids are not an oracle. */
export const workflowNotFound = (id: string) =>
  new NotFoundError(
    'WORKFLOW_NOT_FOUND',
    `No workflow ${id} (it does not exist, was deleted, or is not yours).`,
  );

/**
 * Refuses a definition whose email step has a literal `from` (or a literal `<address>` in it) on a domain outside
 * `allowedDomains` (EMAIL_ALLOWED_FROM_DOMAINS), with the same 400 as any other invalid field. A `from` whose domain
 * comes from a placeholder is checked when the email is sent.
 */
export function checkSenderDomains(definition: WorkflowDefinition, allowedDomains: readonly string[]): void {
  const details: { path: string; message: string }[] = [];
  definition.steps.forEach((step, index) => {
    if (step.type !== 'email' || step.params.from === undefined) return;
    const domain = literalSenderDomain(step.params.from);
    if (domain === undefined || allowedDomains.includes(domain)) return;
    details.push({
      path: `body.steps[${index}] (id ${JSON.stringify(step.id)}).params.from`,
      message:
        `${JSON.stringify(step.params.from)} sends from ${domain}, which this Hookflow does not send from; ` +
        `allowed sender domains: ${allowedDomains.join(', ')}`,
    });
  });
  if (details.length > 0) {
    const summary = details.map((detail) => `${detail.path}: ${detail.message}`).join('; ');
    throw new AppError('VALIDATION_FAILED', 400, `The request is invalid: ${summary}`, details);
  }
}

export function createWorkflowService(deps: {
  workflows: WorkflowRepo;
  schedules: Pick<ScheduleService, 'view' | 'syncAfterWrite'>;
  publicUrl: string;
  /** EMAIL_ALLOWED_FROM_DOMAINS: a literal `from` elsewhere is refused on save. */
  allowedFromDomains: readonly string[];
  /** WEBHOOK_ROTATION_GRACE_SECONDS, in ms: how long a rotated-out token and secret keep working. */
  rotationGraceMs: number;
  /** Seals new webhook tokens and secrets for storage, and opens them for the owner's eyes. */
  credentials: Pick<WebhookCredentials, 'seal' | 'decrypt'>;
  /** Told about a stored webhook token that does not decrypt (its owner sees the workflow without its URL). */
  warn?: (message: string) => void;
}) {
  const { workflows, schedules, credentials } = deps;

  /**
   * The webhook's token for its owner's eyes, or why it cannot be shown. A token that does not decrypt is one
   * workflow's problem: that workflow is shown without its URL (every other one of a list as usual), not a 500 that
   * would hide the owner's whole list and the rotate link that repairs it.
   */
  const webhookTokenOf = (record: WorkflowRecord) => {
    try {
      return { token: credentials.decrypt(record.id, 'webhook-token', record.webhookTokenCiphertext) };
    } catch (error) {
      if (!(error instanceof WebhookCredentialError)) throw error;
      deps.warn?.(`${error.message} Its owner sees it without a webhook URL until it is rotated.`);
      // What happened and how to recover; no key material and no value.
      const message =
        `The stored webhook token of workflow ${record.id} cannot be decrypted with this server's ` +
        'SECRETS_ENCRYPTION_KEY (the key changed, or the row was altered). Rotate the webhook ' +
        '(POST /v1/workflows/:id/webhook/rotate) to issue a new token and secret.';
      return { token: null, error: { code: 'WEBHOOK_CREDENTIALS_UNREADABLE' as const, message } };
    }
  };

  const toResource = async (record: WorkflowRecord, withSecret = false): Promise<WorkflowResource> => {
    const { token, error } = webhookTokenOf(record);
    // The secret is only shown by create and rotate, right after sealing it: it always decrypts there.
    const secret =
      withSecret && record.webhookSecretCiphertext
        ? credentials.decrypt(record.id, 'webhook-secret', record.webhookSecretCiphertext)
        : undefined;
    return {
      id: record.id,
      name: record.name,
      description: record.description,
      enabled: record.enabled,
      version: record.version,
      schedule: await schedules.view(record),
      steps: record.steps,
      webhook: {
        url: token === null ? null : `${deps.publicUrl}/hooks/${token}`,
        token,
        signing: record.webhookSigning,
        previousTokenValidUntil:
          record.previousWebhookExpiresAt && record.previousWebhookExpiresAt > new Date()
            ? record.previousWebhookExpiresAt.toISOString()
            : null,
        ...(error && { error }),
      },
      ...(secret !== undefined ? { signingSecret: secret } : {}),
      createdAt: record.createdAt.toISOString(),
      updatedAt: record.updatedAt.toISOString(),
    };
  };

  /** The answer of create and rotate, with the signing secret. */
  const toCreatedResource = async (record: WorkflowRecord): Promise<CreatedWorkflowResource> => {
    const { webhook, ...resource } = await toResource(record, true);
    // Sealed a moment before with this server's key: not decrypting would mean the key itself is broken.
    if (webhook.url === null || webhook.token === null) {
      throw new Error(`the webhook token just sealed for workflow ${record.id} does not decrypt`);
    }
    return { ...resource, webhook: { ...webhook, url: webhook.url, token: webhook.token } };
  };

  /** A fresh token and secret, sealed for workflow `id` (the ciphertexts are bound to it). */
  const newWebhook = (id: string) =>
    credentials.seal(id, { token: newWebhookToken(), secret: newSigningSecret() });

  const fieldsOf = (definition: WorkflowDefinition) => ({
    name: definition.name,
    description: definition.description,
    enabled: definition.enabled,
    signing: definition.webhook.signing,
    schedule: definition.schedule,
    steps: definition.steps,
  });

  return {
    async create(ownerId: string, definition: WorkflowDefinition) {
      checkSenderDomains(definition, deps.allowedFromDomains);
      const id = randomUUID();
      const record = await workflows.create(ownerId, id, fieldsOf(definition), newWebhook(id));
      if (record.schedule) await schedules.syncAfterWrite(record.id);
      return toCreatedResource(record);
    },

    async list(ownerId: string, page: z.infer<typeof pageQuerySchema>) {
      let after: { createdAt: Date; id: string } | undefined;
      if (page.cursor) {
        const [createdAt, id] = decodeCursor(page.cursor);
        if (typeof createdAt !== 'string' || typeof id !== 'string' || Number.isNaN(Date.parse(createdAt))) {
          throw new AppError(
            'INVALID_CURSOR',
            400,
            'The cursor is not one this API returned: pass nextCursor back unchanged.',
          );
        }
        after = { createdAt: new Date(createdAt), id };
      }
      // One extra row tells whether there is a next page without a count query.
      const rows = await workflows.listOwned(ownerId, page.limit + 1, after);
      const items = rows.slice(0, page.limit);
      const last = items.at(-1);
      return {
        items: await Promise.all(items.map((record) => toResource(record))),
        nextCursor:
          rows.length > page.limit && last ? encodeCursor([last.createdAt.toISOString(), last.id]) : null,
      };
    },

    async get(ownerId: string, id: string) {
      const record = await workflows.findOwned(ownerId, id);
      if (!record) throw workflowNotFound(id);
      return toResource(record);
    },

    /** A new version; its schedule (added, changed, paused, removed) is written to Temporal right after. */
    async replace(ownerId: string, id: string, definition: WorkflowDefinition) {
      checkSenderDomains(definition, deps.allowedFromDomains);
      const record = await workflows.replace(ownerId, id, fieldsOf(definition));
      if (!record) throw workflowNotFound(id);
      await schedules.syncAfterWrite(record.id);
      return toResource(record);
    },

    /** The webhook stops accepting at once; the Schedule, if any, is deleted right after. */
    async remove(ownerId: string, id: string) {
      if (!(await workflows.softDelete(ownerId, id))) throw workflowNotFound(id);
      await schedules.syncAfterWrite(id);
    },

    async rotateWebhook(ownerId: string, id: string) {
      const record = await workflows.rotateWebhook(ownerId, id, newWebhook(id), deps.rotationGraceMs);
      if (!record) throw workflowNotFound(id);
      return toCreatedResource(record);
    },
  };
}

export type WorkflowService = ReturnType<typeof createWorkflowService>;
