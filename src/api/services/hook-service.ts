import { AppError, NotFoundError } from '../../errors.js';
import type { WorkflowRepo } from '../../db/repos/workflow-repo.js';
import { WebhookCredentialError, type WebhookCredentials } from '../../secrets/webhook-credentials.js';
import type { TriggerInput } from '../../workflows/types.js';
import type { RunService } from './run-service.js';
import { verifyStandardWebhook } from './webhook-signature.js';
import { WEBHOOK_TOKEN_PATTERN } from './workflow-service.js';

/**
 * Request headers a run may read as `trigger.headers`. An allow-list, so credentials (authorization, cookies)
 * and signatures never reach templates, Temporal history or the Web UI.
 */
export const FORWARDED_HEADERS = [
  'content-type',
  'user-agent',
  'idempotency-key',
  'webhook-id',
  'webhook-timestamp',
  'x-github-event',
  'x-github-delivery',
  'svix-id',
  'x-shopify-webhook-id',
  'x-gitlab-event',
  'x-event-type',
  'x-request-id',
] as const;

const MAX_DELIVERY_KEY_LENGTH = 255;

/**
 * Headers that name a delivery, in the order they are read when the workflow does not sign its webhooks: the
 * first one present is the delivery key. Senders resend a failed delivery with the same id, so a key makes the run
 * id deterministic and a repeat starts nothing. Stripe's event id is in the body (`id: "evt_…"`), not in a
 * header, so it is not read.
 */
export const DELIVERY_KEY_HEADERS = [
  'idempotency-key',
  'webhook-id', // Standard Webhooks
  'x-github-delivery',
  'svix-id',
  'x-shopify-webhook-id',
] as const;

/** The header that names a signed delivery: the only one the signature covers. */
const SIGNED_DELIVERY_KEY_HEADER = 'webhook-id';

export interface Delivery {
  token: string;
  contentType: string | undefined;
  /** The body exactly as received: signatures are checked over these bytes. */
  rawBody: Buffer;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
}

export interface DeliverOptions {
  /**
   * Called once the delivery is authenticated (known token, enabled workflow, valid signature) and before
   * anything is parsed or started; it throws to refuse the delivery. The per-webhook rate limit is charged here, so
   * requests that fail the signature check never use up a sender's quota.
   */
  admit?: (workflow: { id: string }) => void | Promise<void>;
}

function header(headers: Delivery['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** JSON, form-encoded or text, as the caller's Content-Type says; anything else is kept as text. */
export function parseBody(contentType: string | undefined, rawBody: string): unknown {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json' || type.endsWith('+json')) {
    if (rawBody.trim() === '') return null;
    try {
      return JSON.parse(rawBody) as unknown;
    } catch (error) {
      throw new AppError('MALFORMED_JSON', 400, `The body is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (type === 'application/x-www-form-urlencoded') {
    const form: Record<string, string | string[]> = {};
    for (const [key, value] of new URLSearchParams(rawBody)) {
      const existing = form[key];
      form[key] =
        existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
    return form;
  }
  return rawBody;
}

const webhookNotFound = () =>
  new NotFoundError(
    'WEBHOOK_NOT_FOUND',
    'No webhook with this token: it may have been rotated, or its workflow deleted.',
  );

export function createHookService(deps: {
  workflows: Pick<WorkflowRepo, 'findByWebhookTokenHash'>;
  runs: Pick<RunService, 'startRun' | 'statusUrl'>;
  /** Hashes tokens for the lookup and decrypts signing secrets. */
  credentials: Pick<WebhookCredentials, 'tokenHash' | 'decrypt'>;
  /** Told about a stored signing secret that does not decrypt (the caller gets a 404): an operator must know. */
  warn?: (message: string) => void;
}) {
  /** The signing secret the delivery must be signed with; undefined when the stored one does not decrypt. */
  const signingSecretOf = (workflow: { id: string; webhookSecretCiphertext: Buffer | null }) => {
    if (!workflow.webhookSecretCiphertext) return '';
    try {
      return deps.credentials.decrypt(workflow.id, 'webhook-secret', workflow.webhookSecretCiphertext);
    } catch (error) {
      if (!(error instanceof WebhookCredentialError)) throw error;
      deps.warn?.(`${error.message} Its webhook answers 404 until it is rotated.`);
      return undefined;
    }
  };

  return {
    /** One webhook delivery → one durable run (or the run an earlier delivery with the same key started). */
    async deliver(delivery: Delivery, options: DeliverOptions = {}) {
      // Only tokens of the shape this API issues are looked up; the database holds their keyed hashes only.
      const workflow = WEBHOOK_TOKEN_PATTERN.test(delivery.token)
        ? await deps.workflows.findByWebhookTokenHash(deps.credentials.tokenHash(delivery.token))
        : undefined;
      if (!workflow) throw webhookNotFound();
      if (!workflow.enabled) {
        throw new AppError(
          'WORKFLOW_DISABLED',
          409,
          'This workflow is disabled: enable it (PUT /v1/workflows/:id) to accept deliveries.',
        );
      }
      const signed = workflow.webhookSigning === 'standard-webhooks';
      if (signed) {
        // A secret that does not decrypt (a row altered, or another workflow's ciphertext copied into it) leaves
        // nothing to check against: the token is treated as unknown rather than answered with a 500.
        const secret = signingSecretOf(workflow);
        if (secret === undefined) throw webhookNotFound();
        const check = verifyStandardWebhook(
          secret,
          {
            id: header(delivery.headers, SIGNED_DELIVERY_KEY_HEADER),
            timestamp: header(delivery.headers, 'webhook-timestamp'),
            signature: header(delivery.headers, 'webhook-signature'),
          },
          delivery.rawBody,
        );
        if (!check.ok)
          throw new AppError('INVALID_SIGNATURE', 401, `Signature verification failed: ${check.reason}.`);
      }
      await options.admit?.(workflow);

      // A signed delivery is known by its signed id alone: an unsigned header (a fresh Idempotency-Key on a
      // replayed request) must not make it a new delivery within the signature's 5-minute window.
      const keyHeaders = signed ? [SIGNED_DELIVERY_KEY_HEADER] : DELIVERY_KEY_HEADERS;
      const keyHeader = keyHeaders.find((name) => header(delivery.headers, name) !== undefined);
      const deliveryKey = keyHeader === undefined ? undefined : header(delivery.headers, keyHeader);
      if (
        deliveryKey !== undefined &&
        (deliveryKey.length === 0 || deliveryKey.length > MAX_DELIVERY_KEY_LENGTH)
      ) {
        throw new AppError(
          'INVALID_DELIVERY_KEY',
          400,
          `The ${keyHeader} header (this delivery's key) must be 1 to ${MAX_DELIVERY_KEY_LENGTH} characters.`,
        );
      }

      const headers: Record<string, string> = {};
      for (const name of FORWARDED_HEADERS) {
        const value = header(delivery.headers, name);
        if (value !== undefined) headers[name] = value;
      }
      const trigger: TriggerInput = {
        type: 'webhook',
        receivedAt: new Date().toISOString(),
        // Bytes that are not UTF-8 read as U+FFFD (a run's input is JSON text); the signature covered them as sent.
        body: parseBody(delivery.contentType, delivery.rawBody.toString('utf8')),
        query: delivery.query,
        headers,
      };
      const { runId, duplicate } = await deps.runs.startRun(workflow, trigger, deliveryKey);
      return { runId, duplicate, statusUrl: deps.runs.statusUrl(runId) };
    },
  };
}

export type HookService = ReturnType<typeof createHookService>;
