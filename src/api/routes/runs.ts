import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { runResourceSchema, type RunService } from '../services/run-service.js';
import { bearerAuth, errorResponses, runIdParamsSchema } from './common.js';

export const runRoutes: FastifyPluginAsyncZod<{ runs: RunService }> = (app, { runs }) => {
  // onRequest, not preHandler: an anonymous caller gets 401 before its body is even parsed or validated.
  app.addHook('onRequest', app.authenticate);
  const tags = ['runs'];

  app.get(
    '/runs/:runId',
    {
      schema: {
        tags,
        summary: 'Get a run with the status, attempts, output and error of each step',
        security: bearerAuth,
        params: runIdParamsSchema,
        response: { 200: runResourceSchema, ...errorResponses(400, 401, 404, 503) },
      },
    },
    (request) => runs.getRun(request.user.sub, request.params.runId),
  );

  app.post(
    '/runs/:runId/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a running run (a waiting delay or a retrying step stops)',
        security: bearerAuth,
        params: runIdParamsSchema,
        response: { 202: runResourceSchema, ...errorResponses(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) =>
      reply.status(202).send(await runs.cancel(request.user.sub, request.params.runId)),
  );

  app.post(
    '/runs/:runId/retry',
    {
      schema: {
        tags,
        summary: 'Re-run a failed run from its failed step (earlier steps are not repeated)',
        security: bearerAuth,
        params: runIdParamsSchema,
        response: { 202: runResourceSchema, ...errorResponses(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const { run } = await runs.retry(request.user.sub, request.params.runId);
      return reply.status(202).send(run);
    },
  );

  return Promise.resolve();
};
