import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config.js';
import { createDb, type DbHandle } from '../db/client.js';
import { migrateToLatest } from '../db/migrate.js';
import { connectTemporal } from '../temporal/connection.js';
import { buildApp } from './app.js';

/**
 * Opens what the API needs (database, one Temporal connection), migrates, builds the app and listens.
 * `close()` stops accepting, lets in-flight requests finish, then closes what it opened. `options.db` shares a
 * database the caller opened (and closes): `npm start`'s embedded PGlite, which only one handle may open.
 */
export async function startApi(
  config: Config,
  temporalAddress: string,
  logger: FastifyServerOptions['logger'],
  options: { db?: DbHandle } = {},
) {
  const ownsDb = options.db === undefined;
  const db = options.db ?? (await createDb(config));
  try {
    if (config.db.migrateOnStart) await migrateToLatest(db);
    const temporal = await connectTemporal({
      address: temporalAddress,
      namespace: config.temporal.namespace,
    });
    const app = await buildApp({ config, db, temporal, logger });
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
    app.addHook('onClose', async () => {
      await temporal.close();
      if (ownsDb) await db.close();
    });
    await app.listen({ host: config.http.host, port: config.http.port });
    return { app, close: () => app.close() };
  } catch (error) {
    if (ownsDb) await db.close().catch(() => undefined);
    throw error;
  }
}
