import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.js';

export interface TemporalHandle {
  connection: Connection;
  client: Client;
  close(): Promise<void>;
}

/** One connection per process, opened at start-up and shared by every request (never per request). */
export async function connectTemporal(
  temporal: Pick<Config['temporal'], 'namespace'> & { address: string },
): Promise<TemporalHandle> {
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  return { connection, client, close: () => connection.close() };
}
