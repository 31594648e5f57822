import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  secretNameSchema,
  secretResourceSchema,
  secretValueSchema,
  type SecretService,
} from '../services/secret-service.js';
import { bearerAuth, errorResponses } from './common.js';

const secretParamsSchema = z.strictObject({ name: secretNameSchema });
const putSecretBodySchema = z.strictObject({ value: secretValueSchema });

/** DESIGN §3 and §7: write-only secrets. No answer, error message or log line contains a value. */
export const secretRoutes: FastifyPluginAsyncZod<{ secrets: SecretService }> = (app, { secrets }) => {
  // onRequest, not preHandler: an anonymous caller gets 401 before its body is even parsed or validated.
  app.addHook('onRequest', app.authenticate);
  const tags = ['secrets'];

  app.put(
    '/secrets/:name',
    {
      schema: {
        tags,
        summary:
          'Create or replace a secret; workflows reference it as {{secrets.NAME}}. The value is never returned',
        security: bearerAuth,
        params: secretParamsSchema,
        body: putSecretBodySchema,
        response: { 200: secretResourceSchema, ...errorResponses(400, 401, 409) },
      },
    },
    (request) => secrets.put(request.user.sub, request.params.name, request.body.value),
  );

  app.get(
    '/secrets',
    {
      schema: {
        tags,
        summary: 'List your secrets by name (values are never returned)',
        security: bearerAuth,
        response: {
          200: z.object({ items: z.array(secretResourceSchema) }),
          ...errorResponses(401),
        },
      },
    },
    (request) => secrets.list(request.user.sub),
  );

  app.delete(
    '/secrets/:name',
    {
      schema: {
        tags,
        summary: 'Delete a secret; runs that reference it afterwards fail their step, naming it',
        security: bearerAuth,
        params: secretParamsSchema,
        response: { 204: z.null(), ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await secrets.remove(request.user.sub, request.params.name);
      return reply.status(204).send(null);
    },
  );

  return Promise.resolve();
};
