// Worker entrypoint (`npm run start:worker`): runs the interpreter workflow and the email and http activities.
import { createActivities, emailQuotaFor } from './activities/index.js';
import { loadConfig, requireSetting } from './config.js';
import { createDb } from './db/client.js';
import { exitOnStartupError, onShutdownSignal } from './lifecycle.js';
import { secretResolverFor } from './secrets/resolver.js';
import { startWorker } from './temporal/worker.js';

try {
  const config = loadConfig();
  const temporalAddress = requireSetting(
    config.temporal.address,
    'TEMPORAL_ADDRESS',
    'start:worker connects to a running Temporal server (e.g. 127.0.0.1:7233); `npm start` starts a local one for you.',
  );
  requireSetting(
    config.db.url,
    'DATABASE_URL',
    "start:worker reads account secrets for http steps and counts email quotas in the API's PostgreSQL database; `npm start` shares its embedded one.",
  );
  // postgres.js connects on first use: on the first http step with a secret or the first email send.
  const db = await createDb(config);
  const activities = createActivities({
    config,
    secrets: secretResolverFor(config, db),
    emailQuota: emailQuotaFor(config, db.db),
  });
  const worker = await startWorker(config, temporalAddress, activities);
  console.log(
    `worker polling task queue "${config.temporal.taskQueue}" on ${temporalAddress} (namespace ${config.temporal.namespace}); ` +
      `email transport: ${config.email.transport === 'resend' ? 'Resend' : 'console (emails are printed, not sent)'}`,
  );
  if (worker.metrics.state === 'serving') console.log(`worker metrics on ${worker.metrics.url}`);
  if (worker.metrics.state === 'unavailable') {
    console.error(
      `worker metrics NOT served: ${worker.metrics.address} could not be bound (${worker.metrics.reason}). ` +
        'The worker runs without them; give each worker on this host its own WORKER_METRICS_PORT, or set METRICS_ENABLED=false.',
    );
  }
  onShutdownSignal(async (signal) => {
    console.log(`${signal}: worker finishing in-flight activities (up to ${config.http.shutdownGraceMs} ms)`);
    await worker.stop();
    await db.close();
  }, config.http.shutdownGraceMs);
  await worker.running;
} catch (error) {
  exitOnStartupError(error);
}
