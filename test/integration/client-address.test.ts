import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb } from '../helpers/database.js';

/*
 * The per-IP sign-in limit counts `request.ip`. Who may set it through X-Forwarded-For is TRUST_PROXY's choice:
 * nobody by default, so a direct caller cannot rotate its way past the limit.
 */

const LIMIT = 10;
let db: Awaited<ReturnType<typeof openMigratedDb>>;
let connection: Connection;
const apps: App[] = [];

beforeAll(async () => {
  db = await openMigratedDb('postgres');
  connection = await Connection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await connection?.close();
  await db?.close();
});

async function appWith(env: Record<string, string>): Promise<App> {
  const app = await buildApp({
    config: testConfig({ LOGIN_RATE_LIMIT_PER_MINUTE: String(LIMIT), ...env }),
    db,
    temporal: { connection, client: new Client({ connection }) },
  });
  apps.push(app);
  return app;
}

/** A failed sign-in for a fresh email (so only the per-IP limit can bite), from `socket`, forwarded `for`. */
async function signIn(app: App, socket: string, forwardedFor?: string): Promise<number> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    remoteAddress: socket,
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
    payload: { email: `user-${randomUUID()}@example.com`, password: 'not the password' },
  });
  expect([401, 429], response.body).toContain(response.statusCode);
  return response.statusCode;
}

/** `count` sign-ins, the i-th forwarded for `forwardedFor(i)`; the statuses answered. */
async function signIns(app: App, count: number, socket: string, forwardedFor: (i: number) => string) {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push(await signIn(app, socket, forwardedFor(i)));
  return statuses;
}

const rotating = (i: number) => `203.0.113.${i + 1}`;
const allowed = Array<number>(LIMIT).fill(401);

describe('client address for the per-IP limits', () => {
  it('ignores X-Forwarded-For by default: a rotating header does not escape the limit', async () => {
    const app = await appWith({});
    expect(await signIns(app, LIMIT, '192.0.2.10', rotating)).toEqual(allowed);
    expect(await signIn(app, '192.0.2.10', '198.51.100.200')).toBe(429);
    // Another socket address is another client.
    expect(await signIn(app, '192.0.2.11', rotating(0))).toBe(401);
  });

  it('with TRUST_PROXY=1, counts the address the one proxy in front forwarded', async () => {
    const app = await appWith({ TRUST_PROXY: '1' });
    const proxy = '10.1.0.2';
    // Many clients behind one proxy socket: each has its own budget.
    expect(await signIns(app, LIMIT + 1, proxy, rotating)).toEqual([...allowed, 401]);
    // One client behind it is limited, even when it prepends addresses of its own (the proxy appends the real one).
    expect(await signIns(app, LIMIT, proxy, (i) => `192.0.2.${i + 1}, 198.51.100.7`)).toEqual(allowed);
    expect(await signIn(app, proxy, '198.51.100.7')).toBe(429);
    expect(await signIn(app, proxy, '192.0.2.99, 198.51.100.7')).toBe(429);
  });

  it('with TRUST_PROXY set to proxy addresses, believes only those proxies', async () => {
    const app = await appWith({ TRUST_PROXY: '10.2.0.0/24, 10.3.0.9' });
    // Addresses no earlier test used: the limits are counted in the database all these apps share.
    const unused = (i: number) => `203.0.113.${i + 101}`;
    expect(await signIns(app, LIMIT + 1, '10.2.0.7', unused)).toEqual([...allowed, 401]);
    expect(await signIns(app, LIMIT + 1, '10.3.0.9', (i) => `198.51.100.${i + 101}`)).toEqual([
      ...allowed,
      401,
    ]);
    // A direct caller that is not one of them is counted by its socket address, whatever it forwards.
    expect(await signIns(app, LIMIT, '192.0.2.20', unused)).toEqual(allowed);
    expect(await signIn(app, '192.0.2.20', '198.51.100.250')).toBe(429);
  });
});
