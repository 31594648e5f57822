import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from '../config.js';
import { AesGcmPayloadCodec, type PayloadKey } from './payload-codec.js';

export interface TemporalHandle {
  connection: Connection;
  client: Client;
  close(): Promise<void>;
}

/**
 * The data converter of every Hookflow client and worker: the SDK's default JSON payloads, encrypted with
 * PAYLOAD_ENCRYPTION_KEYS when set. Client and worker must agree, or one cannot read what the other wrote.
 */
export function hookflowDataConverter(payloadKeys: PayloadKey[] | undefined): DataConverter | undefined {
  return payloadKeys ? { payloadCodecs: [new AesGcmPayloadCodec(payloadKeys)] } : undefined;
}

/** One connection per process, opened at start-up and shared by every request (never per request). */
export async function connectTemporal(
  temporal: Pick<Config['temporal'], 'namespace' | 'connection' | 'payloadKeys'> & { address: string },
): Promise<TemporalHandle> {
  const connection = await Connection.connect({
    address: temporal.address,
    tls: temporal.connection.tls,
    apiKey: temporal.connection.apiKey,
  });
  return { connection, client: hookflowClient(connection, temporal), close: () => connection.close() };
}

/** A client of Hookflow's namespace and data converter on `connection` (a worker's own, in npm start's thread). */
export function hookflowClient(
  connection: NonNullable<ConstructorParameters<typeof Client>[0]>['connection'],
  temporal: Pick<Config['temporal'], 'namespace' | 'payloadKeys'>,
): Client {
  return new Client({
    connection,
    namespace: temporal.namespace,
    dataConverter: hookflowDataConverter(temporal.payloadKeys),
  });
}
