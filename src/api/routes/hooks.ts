import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { ApiMetrics } from '../../metrics/api-metrics.js';
import type { HookService } from '../services/hook-service.js';
import type { BacklogAdmission } from '../../limits/backlog-admission.js';
import type { RateLimiter } from '../../limits/rate-limiter.js';
import { errorResponses } from './common.js';

const acceptedSchema = z.object({ runId: z.string(), statusUrl: z.string(), duplicate: z.boolean() });

/**
 * The public webhook endpoint. Bodies are read as raw bytes (any content type) so a signature is checked over
 * exactly what was sent, then parsed as JSON, form or text by the service.
 */
export const hookRoutes: FastifyPluginAsyncZod<{
  hooks: HookService;
  maxBodyBytes: number;
  limiter: RateLimiter;
  metrics: Pick<ApiMetrics, 'observeWebhookDelivery'>;
  /** Set when WEBHOOK_MAX_BACKLOG_SECONDS bounds the backlog. */
  admission?: Pick<BacklogAdmission, 'check'>;
}> = (app, { hooks, maxBodyBytes, limiter, metrics, admission }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_request, body, done) => {
    done(null, body);
  });
  // Every answer of this plugin's route is one delivery's outcome, refusals by Fastify itself (413) included.
  app.addHook('onResponse', (_request, reply, done) => {
    metrics.observeWebhookDelivery(reply.statusCode);
    done();
  });

  app.post(
    '/:token',
    {
      bodyLimit: maxBodyBytes,
      schema: {
        tags: ['webhooks'],
        summary:
          'Deliver a webhook: starts one durable run (202), or returns the run of an earlier delivery with the same delivery key (200): Idempotency-Key, webhook-id, X-GitHub-Delivery, svix-id or X-Shopify-Webhook-Id, the first present; webhook-id alone when the workflow signs',
        params: z.object({ token: z.string().max(200) }),
        querystring: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
        response: {
          200: acceptedSchema,
          202: acceptedSchema,
          ...errorResponses(400, 401, 404, 409, 413, 429, 503),
        },
      },
    },
    async (request, reply) => {
      // Before anything else, so a refusal costs nothing: the decision is read in the background.
      const decision = admission?.check();
      if (decision && !decision.admit) {
        throw new AppError(
          'OVER_CAPACITY',
          503,
          `Over capacity: runs accepted earlier have waited ${Math.floor(decision.waitedSeconds)} s for a worker ` +
            `(WEBHOOK_MAX_BACKLOG_SECONDS). Nothing was started; retry in ${decision.retryAfterSeconds} s.`,
          [],
          { 'retry-after': String(decision.retryAfterSeconds) },
        );
      }
      const accepted = await hooks.deliver(
        {
          token: request.params.token,
          contentType: request.headers['content-type'],
          rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
          query: request.query,
          headers: request.headers,
        },
        {
          // Charged only once the delivery is authenticated: someone who knows the URL but not the signing
          // secret cannot use up the sender's quota.
          admit: async (workflow) => {
            // Keyed by workflow, not token: the old and the new token of a rotation share the limit, and the
            // counters table holds no token.
            const limit = await limiter.hit(workflow.id);
            if (!limit.allowed) {
              throw new AppError(
                'RATE_LIMITED',
                429,
                `Too many deliveries to this webhook; retry in ${limit.retryAfterSeconds} s.`,
                [],
                { 'retry-after': String(limit.retryAfterSeconds) },
              );
            }
          },
        },
      );
      return reply.status(accepted.duplicate ? 200 : 202).send(accepted);
    },
  );

  return Promise.resolve();
};
