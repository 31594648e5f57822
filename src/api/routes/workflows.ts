import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { SCHEDULE_OVERLAP_POLICIES } from '../../dsl/schedule.js';
import { workflowDefinitionSchema } from '../../dsl/schema.js';
import {
  runResourceSchema,
  runStatuses,
  runSummarySchema,
  type RunService,
} from '../services/run-service.js';
import type { RateLimiter } from '../../limits/rate-limiter.js';
import type { ScheduleService } from '../services/schedule-service.js';
import {
  createdWorkflowResourceSchema,
  pageQuerySchema,
  workflowResourceSchema,
  type WorkflowService,
} from '../services/workflow-service.js';
import { bearerAuth, errorResponses, workflowIdParamsSchema } from './common.js';

const manualRunBodySchema = z.strictObject({
  /** Stands in for a webhook body: templates read it as trigger.body. */
  payload: z.unknown().optional(),
});

const backfillBodySchema = z.strictObject({
  /** Start of the past window whose runs should be taken now (ISO 8601). */
  start: z.iso.datetime({ offset: true, message: 'start must be an ISO 8601 date-time' }),
  /** End of the window, not in the future. */
  end: z.iso.datetime({ offset: true, message: 'end must be an ISO 8601 date-time' }),
  /** What runs that overlap each other do; default the schedule's usual `skip`. */
  overlap: z.enum(SCHEDULE_OVERLAP_POLICIES).optional(),
});

export const workflowRoutes: FastifyPluginAsyncZod<{
  workflows: WorkflowService;
  runs: RunService;
  schedules: Pick<ScheduleService, 'backfill'>;
  /** Manual runs per account per minute (MANUAL_RUNS_PER_MINUTE): each one is a real run, emails included. */
  manualRunLimiter: RateLimiter;
}> = (app, { workflows, runs, schedules, manualRunLimiter }) => {
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
        response: { 201: createdWorkflowResourceSchema, ...errorResponses(400, 401) },
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
        summary:
          'Issue a new webhook token and signing secret; the old pair keeps working for WEBHOOK_ROTATION_GRACE_SECONDS (default 24 h, see webhook.previousTokenValidUntil)',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        response: { 200: createdWorkflowResourceSchema, ...errorResponses(400, 401, 404) },
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
        response: { 202: runResourceSchema, ...errorResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const limit = await manualRunLimiter.hit(request.user.sub);
      if (!limit.allowed) {
        throw new AppError(
          'RATE_LIMITED',
          429,
          `Too many manual runs for this account (MANUAL_RUNS_PER_MINUTE); retry in ${limit.retryAfterSeconds} s.`,
          [],
          { 'retry-after': String(limit.retryAfterSeconds) },
        );
      }
      const run = await runs.startManualRun(
        request.user.sub,
        request.params.id,
        request.body.payload ?? null,
      );
      return reply.status(202).send(run);
    },
  );

  app.post(
    '/workflows/:id/schedule/trigger',
    {
      schema: {
        tags: ['schedules'],
        summary: "Run the workflow's schedule now",
        description:
          "Starts one scheduled run of the current version, with the schedule's payload, due now (two requests in " +
          'the same second start one run). 409 when the workflow has no schedule.',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        response: { 202: runResourceSchema, ...errorResponses(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const { run } = await runs.runScheduleNow(request.user.sub, request.params.id);
      return reply.status(202).send(run);
    },
  );

  app.post(
    '/workflows/:id/schedule/backfill',
    {
      schema: {
        tags: ['schedules'],
        summary: 'Take the runs the schedule would have taken in a past window',
        description:
          'For operators after an outage longer than the catch-up window. Each run is due at its scheduled time in ' +
          'the window; runs already taken at those times are not started again, but a window that overlaps runs ' +
          'that did happen under another schedule version can send the same emails twice.',
        security: bearerAuth,
        params: workflowIdParamsSchema,
        body: backfillBodySchema,
        response: {
          202: z.object({ start: z.string(), end: z.string(), overlap: z.enum(SCHEDULE_OVERLAP_POLICIES) }),
          ...errorResponses(400, 401, 404, 409, 503),
        },
      },
    },
    async (request, reply) => {
      const start = new Date(request.body.start);
      const end = new Date(request.body.end);
      const overlap = request.body.overlap ?? 'skip';
      await schedules.backfill(request.user.sub, request.params.id, { start, end, overlap });
      return reply.status(202).send({ start: start.toISOString(), end: end.toISOString(), overlap });
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
