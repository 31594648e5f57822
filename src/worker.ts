// Worker entrypoint (`npm run start:worker`): runs the interpreter workflow and the email activity.
import { createActivities } from './activities/index.js';
import { loadConfig, requireSetting } from './config.js';
import { exitOnStartupError, onShutdownSignal } from './lifecycle.js';
import { startWorker } from './temporal/worker.js';

try {
  const config = loadConfig();
  const temporalAddress = requireSetting(
    config.temporal.address,
    'TEMPORAL_ADDRESS',
    'start:worker connects to a running Temporal server (e.g. 127.0.0.1:7233); `npm start` starts a local one for you.',
  );
  const worker = await startWorker(config, temporalAddress, createActivities({ config }));
  console.log(
    `worker polling task queue "${config.temporal.taskQueue}" on ${temporalAddress} (namespace ${config.temporal.namespace}); ` +
      `email transport: ${config.email.resendApiKey ? 'Resend' : 'console (no RESEND_API_KEY)'}`,
  );
  onShutdownSignal(async (signal) => {
    console.log(`${signal}: worker finishing in-flight activities (up to ${config.http.shutdownGraceMs} ms)`);
    await worker.stop();
  }, config.http.shutdownGraceMs);
  await worker.running;
} catch (error) {
  exitOnStartupError(error);
}
