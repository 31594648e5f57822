import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HealthService } from '../services/health-service.js';

// No error text: the endpoint is anonymous (the reason is in the API's log).
const dependencySchema = z.object({ ok: z.boolean(), latencyMs: z.number() });
const readinessSchema = z.object({
  ready: z.boolean(),
  checks: z.object({ postgres: dependencySchema, temporal: dependencySchema }),
});

export const healthRoutes: FastifyPluginAsyncZod<{ health: HealthService }> = (app, { health }) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: the process is up',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: PostgreSQL and Temporal answer',
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const readiness = await health.readiness();
      if (!readiness.ready) void reply.status(503).header('retry-after', '5');
      return readiness;
    },
  );
  return Promise.resolve();
};
