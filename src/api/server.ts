// API entrypoint (`npm run start:api`): a production process against DATABASE_URL and TEMPORAL_ADDRESS.
import { loadConfig, requireSetting } from '../config.js';
import { exitOnStartupError, onShutdownSignal } from '../lifecycle.js';
import { startApi } from './start.js';

try {
  const config = loadConfig();
  const temporalAddress = requireSetting(
    config.temporal.address,
    'TEMPORAL_ADDRESS',
    'start:api connects to a running Temporal server (e.g. 127.0.0.1:7233); `npm start` starts a local one for you.',
  );
  requireSetting(
    config.auth.jwtSecret,
    'JWT_SECRET',
    'Set it to 32 or more random bytes, e.g. the output of `openssl rand -base64 32`.',
  );
  const api = await startApi(config, temporalAddress, { level: config.logLevel });
  onShutdownSignal(async (signal) => {
    api.app.log.info({ signal }, 'shutting down: no new requests, finishing in-flight ones');
    await api.close();
  }, config.http.shutdownGraceMs);
} catch (error) {
  exitOnStartupError(error);
}
