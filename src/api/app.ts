import Fastify, { type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Connection } from '@temporalio/client';
import type { Config } from '../config.js';
import type { DbHandle } from '../db/client.js';
import { errorHandlerPlugin } from './plugins/error-handler.js';
import { openApiPlugin } from './plugins/openapi.js';
import { healthRoutes } from './routes/health.js';
import { createHealthService } from './services/health-service.js';

export interface AppDeps {
  config: Config;
  db: DbHandle;
  temporal: { connection: Pick<Connection, 'workflowService'> };
  logger?: FastifyServerOptions['logger'];
}

/**
 * Builds the HTTP app from ready dependencies. It never reads the environment and never listens: server.ts does
 * that, and tests drive the app with inject().
 */
export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    logger: deps.logger ?? false,
    genReqId: () => crypto.randomUUID(),
    requestIdHeader: false,
    // Behind a proxy (compose, a load balancer) the client's address comes from X-Forwarded-For.
    trustProxy: true,
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  await app.register(errorHandlerPlugin);
  await app.register(openApiPlugin, { publicUrl: deps.config.http.publicUrl, version: '0.1.0' });

  const health = createHealthService({ db: deps.db, temporal: deps.temporal.connection });
  await app.register(healthRoutes, { health });

  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
