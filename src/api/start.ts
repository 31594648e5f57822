import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config.js';
import { createDb, type DbHandle } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { connectTemporal } from '../temporal/connection.js';
import { buildApp, type AppDeps } from './app.js';
import { startCodecServer, uiOrigins } from './codec-server.js';

/**
 * Opens what the API needs (database, one Temporal connection), migrates, builds the app and listens.
 * `close()` stops accepting, lets in-flight requests finish, then closes what it opened. `options.db` shares a
 * database the caller opened (and closes): `npm start`'s embedded PGlite, which only one handle may open.
 * `options.startRun` starts runs in place of the API's own connection (npm start's worker thread, AppDeps).
 */
export async function startApi(
  config: Config,
  temporalAddress: string,
  logger: FastifyServerOptions['logger'],
  options: { db?: DbHandle; startRun?: AppDeps['temporal']['startRun'] } = {},
) {
  const ownsDb = options.db === undefined;
  const db = options.db ?? (await createDb(config));
  try {
    // With the key, migrating also converts webhook credentials stored in plaintext by versions before migration
    // 0007. (`npm start` migrates with the key before its worker starts; this second call then finds nothing to do.)
    if (config.db.migrateOnStart) await migrateToLatest(db, { secretsKey: config.secrets.encryptionKey });
    const temporal = await connectTemporal({ ...config.temporal, address: temporalAddress });
    const app = await buildApp({ config, db, temporal: { ...temporal, startRun: options.startRun }, logger });
    // Node's server.close() waits for every open socket, and a keep-alive socket whose request was still in
    // flight when closing began stays open after its answer until its keep-alive timeout (72 s in Fastify): answers
    // given while closing tell the client to hang up, so close() ends as soon as the last in-flight request does.
    let closing = false;
    app.addHook('preClose', (done) => {
      closing = true;
      done();
    });
    app.addHook('onSend', async (_request, reply) => {
      if (closing) void reply.header('connection', 'close');
    });
    const codec = await startCodecEndpoint(config, app.log);
    app.addHook('onClose', async () => {
      await codec?.close();
      await temporal.close();
      if (ownsDb) await db.close();
    });
    await app.listen({ host: config.http.host, port: config.http.port });
    return { app, codecUrl: codec?.url, close: () => app.close() };
  } catch (error) {
    if (ownsDb) await db.close().catch(() => undefined);
    throw error;
  }
}

/**
 * The Temporal UI's codec endpoint (codec-server.ts), when payloads are encrypted. A second API process on the same
 * host finds the port taken: it runs without one (the first serves the UI) and says so, rather than not starting.
 */
async function startCodecEndpoint(config: Config, log: { warn(message: string): void }) {
  const keys = config.temporal.payloadKeys;
  if (!keys || config.temporal.codec.port === 0) return undefined;
  try {
    return await startCodecServer({
      keys,
      ...config.temporal.codec,
      allowedOrigins: uiOrigins(config.temporal.uiUrl),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    const { host, port } = config.temporal.codec;
    log.warn(`payload codec endpoint not started: ${host}:${port} is taken (another API process serves it?)`);
    return undefined;
  }
}
