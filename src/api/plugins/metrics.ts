import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../../errors.js';
import type { ApiMetrics } from '../../metrics/api-metrics.js';

/**
 * Counts and times every answered request by route pattern, and serves GET /metrics (Prometheus text) when enabled.
 * The endpoint is on the public API port; its series hold route patterns, status codes and counts only, so it is open
 * by default (like /healthz). With `token` (METRICS_TOKEN) it answers only `Authorization: Bearer <token>`, for
 * operators who do not want request rates readable by anyone.
 */
export const metricsPlugin = fp(
  (app: FastifyInstance, options: { metrics: ApiMetrics; serve: boolean; token: string | undefined }) => {
    const { metrics } = options;
    app.addHook('onResponse', (request, reply, done) => {
      metrics.observeRequest({
        method: request.method,
        // The pattern (`/hooks/:token`), never request.url: webhook URLs carry their secret token.
        route: request.routeOptions.url,
        statusCode: reply.statusCode,
        seconds: reply.elapsedTime / 1000,
      });
      done();
    });

    if (!options.serve) return;
    const expected = options.token === undefined ? undefined : digest(options.token);
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['health'],
          summary:
            'Prometheus metrics of this API process: requests, webhook outcomes, Temporal start latency (Bearer METRICS_TOKEN when set)',
        },
      },
      async (request, reply) => {
        if (expected !== undefined && !bearerMatches(request.headers.authorization, expected)) {
          throw new AppError(
            'UNAUTHORIZED',
            401,
            'GET /metrics needs "Authorization: Bearer <METRICS_TOKEN>" (the token this API was configured with).',
            [],
            { 'www-authenticate': 'Bearer realm="metrics"' },
          );
        }
        return reply.type(metrics.contentType).send(await metrics.render());
      },
    );
  },
  { name: 'metrics' },
);

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares digests of equal length in constant time, so the answer's timing says nothing about the token. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
}
