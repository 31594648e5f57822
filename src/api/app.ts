import type { Client, Connection } from '@temporalio/client';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { requireSetting, type Config } from '../config.js';
import { AppError } from '../errors.js';
import type { DbHandle } from '../db/client.js';
import { createInvitationRepo } from '../db/repos/invitation-repo.js';
import { createSecretRepo } from '../db/repos/secret-repo.js';
import { createUserRepo } from '../db/repos/user-repo.js';
import { createWorkflowRepo } from '../db/repos/workflow-repo.js';
import { createStartGate } from '../limits/start-gate.js';
import { webhookLookupCacheOf, withWebhookLookupCache } from '../db/repos/webhook-lookup-cache.js';
import { createTemporalAdapter, runStartDetails } from '../temporal/adapter.js';
import { createApiMetrics, type ApiMetrics } from '../metrics/api-metrics.js';
import { createTemporalSchedules } from '../temporal/schedules.js';
import { httpTaskQueue } from '../workflows/names.js';
import { createWebhookCredentials } from '../secrets/webhook-credentials.js';
import { requestLogSerializers } from './log-redaction.js';
import { authPlugin } from './plugins/auth.js';
import { errorHandlerPlugin, frameworkErrorHandler } from './plugins/error-handler.js';
import { metricsPlugin } from './plugins/metrics.js';
import { openApiPlugin } from './plugins/openapi.js';
import { authRoutes } from './routes/auth.js';
import { healthRoutes } from './routes/health.js';
import { hookRoutes } from './routes/hooks.js';
import { invitationRoutes } from './routes/invitations.js';
import { runRoutes } from './routes/runs.js';
import { secretRoutes } from './routes/secrets.js';
import { workflowRoutes } from './routes/workflows.js';
import { createAuthService } from './services/auth-service.js';
import { createHealthService } from './services/health-service.js';
import { createHookService } from './services/hook-service.js';
import { createInvitationService } from './services/invitation-service.js';
import { createDatabaseLoginBackoff, deleteForgottenLoginBackoff } from './services/login-backoff.js';
import { createBacklogAdmission } from '../limits/backlog-admission.js';
import {
  createMemoryRateLimiter,
  createRateLimiter,
  deleteExpiredRateLimits,
} from '../limits/rate-limiter.js';
import { createRunService } from './services/run-service.js';
import { createScheduleService, type ScheduleService } from './services/schedule-service.js';
import { createSecretService } from './services/secret-service.js';
import { createWorkflowService } from './services/workflow-service.js';

/** How often expired rate-limit counters and forgotten sign-in failures are deleted. */
const RATE_LIMIT_CLEANUP_INTERVAL_MS = 5 * 60_000;

declare module 'fastify' {
  interface FastifyInstance {
    /** Repairs every Schedule that differs from the database now (it also runs at start and periodically). */
    reconcileSchedules(): ReturnType<ScheduleService['reconcile']>;
  }
}

export interface AppDeps {
  config: Config;
  db: DbHandle;
  temporal: {
    /** Not read any more: the app reaches Temporal (readiness included) through `client` alone. */
    connection?: Pick<Connection, 'workflowService'>;
    client: Pick<Client, 'workflow' | 'withDeadline' | 'workflowService' | 'schedule' | 'options'>;
    /**
     * Starts runs instead of `client` (same contract as the Temporal adapter's startRun): npm start's worker thread,
     * whose starts are eager (worker-thread.ts). Default: `client`.
     */
    startRun?: ReturnType<typeof createTemporalAdapter>['startRun'];
  };
  logger?: FastifyServerOptions['logger'];
  /** Default: a registry of this app's own (GET /metrics serves it when METRICS_ENABLED). */
  metrics?: ApiMetrics;
}

/**
 * Builds the HTTP app from ready dependencies. It never reads the environment and never listens: server.ts does
 * that, and tests drive the app with inject().
 */
export async function buildApp(deps: AppDeps) {
  const { config } = deps;
  const app = Fastify({
    logger: withRedactedRequests(deps.logger),
    genReqId: () => crypto.randomUUID(),
    requestIdHeader: false,
    trustProxy: trustProxyOption(config.http.trustProxy),
    bodyLimit: config.limits.apiMaxBodyBytes,
    frameworkErrors: frameworkErrorHandler,
  }).withTypeProvider<ZodTypeProvider>();
  // PostgreSQL text and jsonb cannot hold NUL characters: refuse them at the door with a 400 instead of letting a
  // query fail later with a 500. (The webhook endpoint has its own parser: its bodies never reach PostgreSQL.)
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body: string, done) => {
    if (body.includes('\\u0000') || body.includes('\0')) {
      done(
        new AppError(
          'INVALID_CHARACTER',
          400,
          'The body contains a NUL character (\\u0000), which is not allowed.',
        ),
      );
      return;
    }
    void parseJson(request, body, done);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  await app.register(errorHandlerPlugin);
  const metrics = deps.metrics ?? createApiMetrics();
  await app.register(metricsPlugin, {
    metrics,
    serve: config.metrics.enabled,
    token: config.metrics.token,
  });
  await app.register(openApiPlugin, { publicUrl: config.http.publicUrl, version: '0.1.0' });
  const jwtSecret = requireSetting(
    config.auth.jwtSecret,
    'JWT_SECRET',
    'The API signs access tokens with it.',
  );
  const users = createUserRepo(deps.db.db);
  await app.register(authPlugin, { auth: { ...config.auth, jwtSecret }, users });
  const secretsKey = requireSetting(
    config.secrets.encryptionKey,
    'SECRETS_ENCRYPTION_KEY',
    'The API encrypts account secrets, webhook tokens and signing secrets with it: 32 random bytes as base64 ' +
      '(openssl rand -base64 32).',
  );
  const webhookCredentials = createWebhookCredentials(secretsKey);

  // Services are built once here, bottom-up, and handed to the route plugins that call them.
  const webhookLookups = webhookLookupCacheOf(deps.db);
  const workflowRepo = webhookLookups
    ? withWebhookLookupCache(createWorkflowRepo(deps.db.db), webhookLookups)
    : createWorkflowRepo(deps.db.db);
  const adapter = createTemporalAdapter({
    client: deps.temporal.client,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
  });
  const startRun: typeof adapter.startRun =
    deps.temporal.startRun ?? ((...args) => adapter.startRun(...args));
  const temporal = { ...adapter, startRun: metrics.timeRunStarts(startRun) };
  const schedules = createScheduleService({
    workflows: workflowRepo,
    schedules: createTemporalSchedules({
      client: deps.temporal.client,
      taskQueue: config.temporal.taskQueue,
    }),
    runStarts: runStartDetails,
    config,
    log: (message, error) => app.log.warn({ err: error }, message),
  });
  const workflows = createWorkflowService({
    workflows: workflowRepo,
    schedules,
    publicUrl: config.http.publicUrl,
    allowedFromDomains: config.email.allowedFromDomains,
    rotationGraceMs: config.webhooks.rotationGraceMs,
    credentials: webhookCredentials,
    warn: (message) => app.log.warn(message),
  });
  const startGate = createStartGate(config.limits.runStartConcurrency);
  metrics.watchStartGate(startGate);
  const runs = createRunService({ temporal, workflows: workflowRepo, startGate, config });
  const hooks = createHookService({
    workflows: workflowRepo,
    runs,
    credentials: webhookCredentials,
    warn: (message) => app.log.warn(message),
  });
  const secrets = createSecretService({ secrets: createSecretRepo(deps.db.db), key: secretsKey });
  const invitations = createInvitationRepo(deps.db.db);
  // Per-minute limits counted in PostgreSQL, so they hold across API replicas (see rate-limiter.ts); PGlite has one
  // process, so there they are counted in its memory.
  const rateLimiter = (name: string, limit: number) =>
    deps.db.driver === 'pglite'
      ? createMemoryRateLimiter({ name, limit, windowMs: 60_000 })
      : createRateLimiter({ db: deps.db.db, name, limit, windowMs: 60_000 });

  await app.register(healthRoutes, {
    health: createHealthService({
      db: deps.db,
      temporal,
      log: (dependency, error) => app.log.warn({ err: error, dependency }, 'readiness check failed'),
    }),
  });
  await app.register(
    async (v1) => {
      await v1.register(authRoutes, {
        auth: createAuthService({
          users,
          invitations,
          registrationMode: config.auth.registrationMode,
          loginBackoff: createDatabaseLoginBackoff({ db: deps.db.db }),
        }),
        loginLimiter: rateLimiter('login-ip', config.limits.loginPerMinute),
        registerLimiter: rateLimiter('register-ip', config.limits.registerPerMinute),
        expiresInSeconds: config.auth.jwtExpiresInSeconds,
      });
      await v1.register(invitationRoutes, {
        invitations: createInvitationService({
          users,
          invitations,
          registrationMode: config.auth.registrationMode,
        }),
      });
      await v1.register(workflowRoutes, {
        workflows,
        runs,
        schedules,
        manualRunLimiter: rateLimiter('manual-runs', config.limits.manualRunsPerMinute),
      });
      await v1.register(runRoutes, { runs });
      await v1.register(secretRoutes, { secrets });
    },
    { prefix: '/v1' },
  );
  // The queues Hookflow's workers poll: the interpreter's workflow tasks and emails, and the http steps.
  const admission =
    config.webhooks.maxBacklogSeconds > 0
      ? createBacklogAdmission({
          client: deps.temporal.client,
          namespace: config.temporal.namespace,
          queues: [
            { name: config.temporal.taskQueue, types: ['workflow', 'activity'] },
            { name: httpTaskQueue(config.temporal.taskQueue), types: ['activity'] },
          ],
          maxSeconds: config.webhooks.maxBacklogSeconds,
          warn: (message, error) => app.log.warn(error === undefined ? {} : { err: error }, message),
        })
      : undefined;
  await app.register(hookRoutes, {
    prefix: '/hooks',
    hooks,
    maxBodyBytes: config.webhooks.maxBodyBytes,
    metrics,
    limiter: rateLimiter('webhook', config.webhooks.rateLimitPerMinute),
    admission,
  });

  // PostgreSQL owns schedule definitions, Temporal the Schedules: repair any difference a crash or an outage left,
  // once the app is up and then periodically (every API process does it; it is idempotent).
  // One reconcile at a time per process: an overlapping pair would race each other over the same Schedules.
  let reconciling: ReturnType<ScheduleService['reconcile']> = Promise.resolve({
    checked: 0,
    created: 0,
    updated: 0,
    deleted: 0,
    failed: 0,
  });
  const reconcile = () => (reconciling = reconciling.then(() => schedules.reconcile()));
  app.decorate('reconcileSchedules', reconcile);
  const timer = setInterval(() => void reconcile(), config.temporal.scheduleReconcileIntervalMs);
  timer.unref();
  // Counters of ended windows and forgotten sign-in failures only take space; any process may delete them.
  const rateLimitCleanup = setInterval(() => {
    Promise.all([deleteExpiredRateLimits(deps.db.db), deleteForgottenLoginBackoff(deps.db.db)]).catch(
      (error: unknown) =>
        app.log.warn({ err: error }, 'could not delete expired rate-limit state; will try again'),
    );
  }, RATE_LIMIT_CLEANUP_INTERVAL_MS);
  rateLimitCleanup.unref();
  app.addHook('onReady', (done) => {
    void reconcile();
    done();
  });
  app.addHook('onClose', async () => {
    admission?.stop();
    clearInterval(timer);
    clearInterval(rateLimitCleanup);
    await reconciling;
  });

  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;

/**
 * TRUST_PROXY as Fastify's option. Only the listed proxies (or, with a hop count, that many hops) may say who the
 * client is through X-Forwarded-For; by default nobody may, so a caller cannot choose the address the per-IP limits
 * count. Fastify 5 ignores a numeric hop count (it cannot tell a proxy from a direct client), so a hop count becomes
 * the equivalent trust function: it is for an API that can only be reached through its proxies.
 */
function trustProxyOption(trustProxy: Config['http']['trustProxy']): FastifyServerOptions['trustProxy'] {
  if (typeof trustProxy === 'number') return (_address: string, hop: number) => hop < trustProxy;
  return trustProxy;
}

/** The caller's logger options with request URLs redacted (webhook tokens, query strings): see log-redaction.ts. */
function withRedactedRequests(logger: AppDeps['logger']): FastifyServerOptions['logger'] {
  if (!logger) return false;
  const options = logger === true ? {} : logger;
  return { ...options, serializers: { ...options.serializers, ...requestLogSerializers } };
}
