import type { Payload } from '@temporalio/common';
import Fastify from 'fastify';
import { z } from 'zod';
import { AesGcmPayloadCodec, PayloadDecryptionError, type PayloadKey } from '../temporal/payload-codec.js';

/*
 * The codec endpoint of the Temporal UI (and `temporal --codec-endpoint`): the UI, running in an operator's browser,
 * POSTs the encrypted payloads it shows to /decode and gets them back readable, so history at rest stays ciphertext
 * while operators still read runs. It decrypts anything it is sent, so it is an operator surface like the UI itself:
 * its own listener, on loopback by default (PAYLOAD_CODEC_HOST/PORT), answering cross-origin requests from the
 * Temporal UI's origin only. Wire format (Temporal's codec server protocol): {"payloads": [{"metadata": {name:
 * base64}, "data": base64}]} in and out.
 */

const MAX_BODY_BYTES = 16 * 1024 * 1024; // a page of history holds many payloads of up to 2 MiB (Temporal's limit)

const jsonPayloadSchema = z.object({
  metadata: z.record(z.string(), z.string()).optional(),
  data: z.string().optional(),
});
const bodySchema = z.object({ payloads: z.array(jsonPayloadSchema) });
type JsonPayload = z.infer<typeof jsonPayloadSchema>;

const fromJson = (payload: JsonPayload): Payload => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([name, value]) => [name, Buffer.from(value, 'base64')]),
  ),
  data: Buffer.from(payload.data ?? '', 'base64'),
});

const toJson = (payload: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([name, value]) => [
      name,
      Buffer.from(value).toString('base64'),
    ]),
  ),
  data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
});

export interface CodecServerOptions {
  keys: PayloadKey[];
  host: string;
  port: number;
  /** Browser origins allowed to call it: the Temporal UI's. */
  allowedOrigins: string[];
}

export async function startCodecServer(options: CodecServerOptions) {
  const codec = new AesGcmPayloadCodec(options.keys);
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES });
  const allowed = new Set(options.allowedOrigins);

  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin !== undefined && allowed.has(origin)) {
      void reply
        .header('access-control-allow-origin', origin)
        .header('vary', 'origin')
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'content-type, x-namespace, authorization')
        .header('access-control-max-age', '600');
    }
    if (request.method === 'OPTIONS') await reply.status(origin && allowed.has(origin) ? 204 : 403).send();
  });
  app.options('/*', () => undefined); // answered by the hook above

  for (const operation of ['encode', 'decode'] as const) {
    app.post(`/${operation}`, async (request, reply) => {
      const parsed = bodySchema.safeParse(request.body);
      if (!parsed.success) {
        return reply
          .status(400)
          .send({ error: 'expected {"payloads": [{"metadata": {...}, "data": "<base64>"}]}' });
      }
      try {
        const payloads = await codec[operation](parsed.data.payloads.map(fromJson));
        return { payloads: payloads.map(toJson) };
      } catch (error) {
        if (error instanceof PayloadDecryptionError) return reply.status(422).send({ error: error.message });
        throw error;
      }
    });
  }

  const address = await app.listen({ host: options.host, port: options.port });
  return { url: address, close: () => app.close() };
}

/** The UI's origin as a browser sends it, in both spellings of the loopback host a person may type. */
export function uiOrigins(uiUrl: string): string[] {
  const origin = new URL(uiUrl).origin;
  const variants = [origin];
  if (origin.includes('//localhost')) variants.push(origin.replace('//localhost', '//127.0.0.1'));
  if (origin.includes('//127.0.0.1')) variants.push(origin.replace('//127.0.0.1', '//localhost'));
  return variants;
}
