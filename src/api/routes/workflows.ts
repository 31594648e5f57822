import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { workflowDefinitionSchema } from '../../dsl/schema.js';
import {
  runResourceSchema,
  runStatuses,
  runSummarySchema,
  type RunService,
} from '../services/run-service.js';
import {
  pageQuerySchema,
  workflowResourceSchema,
  type WorkflowService,
} from '../services/workflow-service.js';
import { bearerAuth, errorResponses, workflowIdParamsSchema } from './common.js';

const manualRunBodySchema = z.strictObject({
  /** Stands in for a webhook body: templates read it as trigger.body. */
  payload: z.unknown().optional(),
});

export const workflowRoutes: FastifyPluginAsyncZod<{ workflows: WorkflowService; runs: RunService }> = (
  app,
  { workflows, runs },
) => {
  // onRequest, not preHandler: an anonymous caller gets 401 before its body is even parsed or validated.
  app.addHook('onRequest', app.authenticate);
  const tags = ['workflows'];

  app.post(
    '/workflows',
    {
      schema: {
        tags,
        summary: 'Create a workflow (version 1); the answer holds its webhook URL and signing secret',
        security: bearerAuth,
        body: workflowDefinitionSchema,
        response: { 201: workflowResourceSchema, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => reply.status(201).send(await workflows.create(request.user.sub, request.body)),
  );

  app.get(
    '/workflows',
    {
      schema: {
        tags,
        summary: 'List your workflows, newest first',
        security: bearerAuth,
        querystring: pageQuerySchema,
        response: {
          200: z.object({ items: z.array(workflowResourceSchema), nextCursor: z.string().nullable() }),
          ...errorResponses(400, 401),
        },
      },
    },
    (request) => workflows.list(request.user.sub, request.query),
  );

  app.get(
    '/workflows/:id',
    {
      schema: {
        tags,
        summary: 'Get a workflow (its current version)',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        response: { 200: workflowResourceSchema, ...errorResponses(400, 401, 404) },
      },
    },
    (request) => workflows.get(request.user.sub, request.params.id),
  );

  app.put(
    '/workflows/:id',
    {
      schema: {
        tags,
        summary: 'Replace a workflow: saves version + 1; runs in flight keep the version they started with',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        body: workflowDefinitionSchema,
        response: { 200: workflowResourceSchema, ...errorResponses(400, 401, 404) },
      },
    },
    (request) => workflows.replace(request.user.sub, request.params.id, request.body),
  );

  app.delete(
    '/workflows/:id',
    {
      schema: {
        tags,
        summary: 'Delete a workflow: its webhook stops accepting; runs in flight finish',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        response: { 204: z.null(), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await workflows.remove(request.user.sub, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/workflows/:id/webhook/rotate',
    {
      schema: {
        tags,
        summary: 'Issue a new webhook token and signing secret; the old ones stop working at once',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        response: { 200: workflowResourceSchema, ...errorResponses(400, 401, 404) },
      },
    },
    (request) => workflows.rotateWebhook(request.user.sub, request.params.id),
  );

  app.post(
    '/workflows/:id/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'Start a manual (test) run with a sample payload',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        body: manualRunBodySchema,
        response: { 202: runResourceSchema, ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (request, reply) => {
      const run = await runs.startManualRun(
        request.user.sub,
        request.params.id,
        request.body.payload ?? null,
      );
      return reply.status(202).send(run);
    },
  );

  app.get(
    '/workflows/:id/runs',
    {
      schema: {
        tags: ['runs'],
        summary: "List a workflow's runs, newest first",
        security: bearerAuth,
        params: workflowIdParamsSchema,
        querystring: pageQuerySchema.extend({ status: z.enum(runStatuses).optional() }),
        response: {
          200: z.object({ items: z.array(runSummarySchema), nextCursor: z.string().nullable() }),
          ...errorResponses(400, 401, 404, 503),
        },
      },
    },
    (request) => runs.listRuns(request.user.sub, request.params.id, request.query),
  );

  return Promise.resolve();
};
