import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunResource } from '../../src/api/services/run-service.js';
import type { WorkflowResource } from '../../src/api/services/workflow-service.js';
import { startCodecServer } from '../../src/api/codec-server.js';
import { findFreePort } from '../../src/temporal/dev-server.js';
import { startHttpTarget, type HttpTarget } from '../helpers/http-target.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/*
 * With PAYLOAD_ENCRYPTION_KEYS set, nothing a webhook sends is readable in Temporal's history (what the database,
 * gRPC or a UI without the codec shows), while the API, which decodes through the same codec, shows runs as before;
 * and the codec endpoint the Temporal UI calls turns history payloads back into the original.
 */

const MARKER = `marker-${randomBytes(6).toString('hex')}`;
const KEY = `k1:${randomBytes(32).toString('base64')}`;

let stack: Stack;
let target: HttpTarget;
let auth: { authorization: string; userId: string };

beforeAll(async () => {
  target = await startHttpTarget();
  stack = await startStack({
    env: { PAYLOAD_ENCRYPTION_KEYS: KEY, HTTP_ALLOWED_PRIVATE_NETWORKS: '127.0.0.0/8' },
  });
  auth = await stack.signUp();
});
afterAll(async () => {
  await stack?.close();
  await target?.close();
});

async function inject_(method: 'GET' | 'POST', url: string, payload?: unknown) {
  return stack.app.inject({
    method,
    url,
    headers: { authorization: auth.authorization },
    payload: payload as object,
  });
}

/** Every payload of the run's history, as stored: read over gRPC by a client with no codec. */
async function rawHistory(runId: string): Promise<string> {
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  try {
    const history = await connection.workflowService.getWorkflowExecutionHistory({
      namespace: stack.config.temporal.namespace,
      execution: { workflowId: runId },
    });
    return readableText(history.history?.events ?? []);
  } finally {
    await connection.close();
  }
}

/** Every string and every byte field (as latin1) in a decoded protobuf message, concatenated: what a reader sees. */
function readableText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  if (Array.isArray(value)) return value.map(readableText).join('\n');
  if (value && typeof value === 'object') return Object.values(value).map(readableText).join('\n');
  return '';
}

describe('payload encryption', () => {
  it('keeps webhook data out of the stored history while the API shows the run as usual', async () => {
    const created = await inject_('POST', '/v1/workflows', {
      name: 'Encrypted',
      steps: [
        {
          id: 'forward',
          type: 'http',
          params: { method: 'POST', url: `${target.url}/echo`, body: { note: '{{trigger.body.note}}' } },
          retry: { maxAttempts: 1 },
        },
      ],
    });
    expect(created.statusCode, created.body).toBe(201);
    const workflow = created.json<WorkflowResource>();
    const runOf = async (note: string) => {
      const hit = await stack.app.inject({
        method: 'POST',
        url: `/hooks/${workflow.webhook.token}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ note }),
      });
      expect(hit.statusCode).toBe(202);
      const { runId } = hit.json<{ runId: string }>();
      const run = await eventually(
        async () => (await inject_('GET', `/v1/runs/${runId}`)).json<RunResource>(),
        (value) => value.status !== 'running',
      );
      return { runId, run };
    };
    const { runId, run } = await runOf(MARKER);

    // The API decodes: the step's output (the target's echo of the webhook's note) is there in the clear.
    expect(run.status).toBe('completed');
    expect(JSON.stringify(run.steps[0]?.output)).toContain(MARKER);
    expect(target.requests.at(-1)?.body).toContain(MARKER);
    // The run list reads its memo through the codec as well.
    const listed = await eventually(
      async () =>
        (await inject_('GET', `/v1/workflows/${workflow.id}/runs`)).json<{ items: { id: string }[] }>(),
      (page) => page.items.some((item) => item.id === runId),
    );
    expect(listed.items.find((item) => item.id === runId)).toMatchObject({
      workflowId: workflow.id,
      status: 'completed',
    });
    // Retrying reads the failed run's input back from its history, through the codec.
    target.answerNext({ status: 400, body: { error: 'refused' } });
    const failed = await runOf(`${MARKER}-again`);
    expect(failed.run.status).toBe('failed');
    const retried = await inject_('POST', `/v1/runs/${failed.runId}/retry`);
    expect(retried.statusCode, retried.body).toBeLessThan(300);
    const retriedRun = await eventually(
      async () => (await inject_('GET', `/v1/runs/${retried.json<{ id: string }>().id}`)).json<RunResource>(),
      (value) => value.status !== 'running',
    );
    expect(JSON.stringify(retriedRun.steps[0]?.output)).toContain(`${MARKER}-again`);

    // What is stored holds no trace of it: neither the input, nor the activity's arguments, nor its result.
    for (const id of [runId, failed.runId]) {
      const history = await rawHistory(id);
      expect(history).toContain('binary/encrypted');
      expect(history).not.toContain(MARKER);
    }
  });

  it('serves the Temporal UI a codec endpoint that decodes stored payloads, for the UI origin only', async () => {
    const port = await findFreePort();
    const codec = await startCodecServer({
      keys: stack.config.temporal.payloadKeys!,
      host: '127.0.0.1',
      port,
      allowedOrigins: ['http://localhost:8233'],
    });
    try {
      const [encoded] = await stack.client.options.loadedDataConverter.payloadCodecs[0]!.encode([
        {
          metadata: { encoding: Buffer.from('json/plain') },
          data: Buffer.from(JSON.stringify({ note: MARKER })),
        },
      ]);
      const body = JSON.stringify({
        payloads: [
          {
            metadata: Object.fromEntries(
              Object.entries(encoded!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
            ),
            data: Buffer.from(encoded!.data!).toString('base64'),
          },
        ],
      });
      const decode = await fetch(`${codec.url}/decode`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          origin: 'http://localhost:8233',
          'x-namespace': 'default',
        },
        body,
      });
      expect(decode.status).toBe(200);
      expect(decode.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
      const decoded = (await decode.json()) as { payloads: { data: string }[] };
      expect(Buffer.from(decoded.payloads[0]!.data, 'base64').toString()).toContain(MARKER);

      // A page from elsewhere gets no CORS grant, so a browser would not hand it the answer.
      const preflight = await fetch(`${codec.url}/decode`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(403);
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await codec.close();
    }
  });
});
