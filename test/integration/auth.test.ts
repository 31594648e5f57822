import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb, type TestDriver } from '../helpers/database.js';

const temporalAddress = inject('temporalAddress');
const PASSWORD = 'correct horse battery staple';

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/** Signs a JWT by hand, so tests can make tokens the app would never issue. */
function signToken(
  claims: Record<string, unknown>,
  secret: string,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
): string {
  const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  return `${unsigned}.${createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
}

/** Every error answer has the DESIGN §3 shape, and its requestId is the one in the x-request-id header. */
function expectError(response: LightMyRequestResponse, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status);
  const body = response.json<{
    error: { code: string; message: string; details: unknown[] };
    requestId: string;
  }>();
  expect(body).toEqual({
    error: { code, message: expect.any(String) as string, details: expect.any(Array) as unknown[] },
    requestId: response.headers['x-request-id'],
  });
  expect(body.error.message.length).toBeGreaterThan(10);
  return body;
}

describe.each<TestDriver>(['postgres', 'pglite'])('auth on %s', (driver) => {
  const jwtSecret = randomBytes(32).toString('hex');
  let db: Awaited<ReturnType<typeof openMigratedDb>>;
  let connection: Connection;
  let app: App;
  // Each request comes from its own address unless a test says otherwise, so the per-IP login limit only bites
  // where a test means it to.
  let addresses = 0;
  const nextAddress = () => `10.0.${Math.floor(++addresses / 250)}.${(addresses % 250) + 1}`;

  const post = (url: string, payload: unknown, remoteAddress = nextAddress()) =>
    app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, remoteAddress });
  const me = (authorization?: string) =>
    app.inject({ method: 'GET', url: '/v1/me', headers: authorization ? { authorization } : {} });
  const newEmail = () => `user-${randomUUID()}@example.com`;
  const register = async (email = newEmail(), password = PASSWORD) => {
    const response = await post('/v1/auth/register', { email, password });
    expect(response.statusCode, response.body).toBe(201);
    return response.json<{ user: { id: string; email: string }; token: string }>();
  };
  const validClaims = (sub: string) => {
    const now = Math.floor(Date.now() / 1000);
    return { sub, email: 'x@example.com', iss: 'hookflow', aud: 'hookflow-api', iat: now, exp: now + 600 };
  };

  beforeAll(async () => {
    db = await openMigratedDb(driver);
    connection = await Connection.connect({ address: temporalAddress });
    app = await buildApp({
      config: testConfig({ JWT_SECRET: jwtSecret }),
      db,
      temporal: { connection, client: new Client({ connection }) },
    });
  });
  afterAll(async () => {
    await app?.close();
    await connection?.close();
    await db?.close();
  });

  it('registers a user whose token works on /v1/me', async () => {
    const { user, token } = await register(' Ada.Lovelace@Example.COM ');
    expect(user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/) as string,
      email: 'ada.lovelace@example.com',
    });

    const response = await me(`Bearer ${token}`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual(user);
  });

  it('refuses a second account for the same email in any case with 409 EMAIL_TAKEN', async () => {
    const email = newEmail();
    await register(email);
    const response = await post('/v1/auth/register', { email: email.toUpperCase(), password: PASSWORD });
    const body = expectError(response, 409, 'EMAIL_TAKEN');
    expect(body.error.message).toContain('POST /v1/auth/login');
  });

  it('refuses a password shorter than 8 or longer than 256 characters with 400 WEAK_PASSWORD', async () => {
    const short = await post('/v1/auth/register', { email: newEmail(), password: 'short' });
    expect(expectError(short, 400, 'WEAK_PASSWORD').error.message).toContain('8');
    const long = await post('/v1/auth/register', { email: newEmail(), password: 'x'.repeat(257) });
    expectError(long, 400, 'WEAK_PASSWORD');
  });

  it('signs in with the right password and gives a Bearer token that works on /v1/me', async () => {
    const email = newEmail();
    const { user } = await register(email);
    const response = await post('/v1/auth/login', { email: email.toUpperCase(), password: PASSWORD });
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json<{ token: string; tokenType: string; expiresIn: number }>();
    expect(body).toEqual({ token: expect.any(String) as string, tokenType: 'Bearer', expiresIn: 3600 });
    expect((await me(`Bearer ${body.token}`)).json()).toEqual(user);
  });

  it('answers a wrong password and an unknown email alike with 401 INVALID_CREDENTIALS', async () => {
    const email = newEmail();
    await register(email);
    const wrong = expectError(
      await post('/v1/auth/login', { email, password: 'not the password' }),
      401,
      'INVALID_CREDENTIALS',
    );
    const unknown = expectError(
      await post('/v1/auth/login', { email: newEmail(), password: PASSWORD }),
      401,
      'INVALID_CREDENTIALS',
    );
    expect(unknown.error).toEqual(wrong.error);
  });

  it('answers a body that is not JSON with 400 MALFORMED_JSON', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": "a@example.com", "password": ',
    });
    expectError(response, 400, 'MALFORMED_JSON');
  });

  it('answers an unknown field or a bad email with 400 VALIDATION_FAILED naming the problem', async () => {
    const extra = await post('/v1/auth/register', { email: newEmail(), password: PASSWORD, admin: true });
    expect(expectError(extra, 400, 'VALIDATION_FAILED').error.message).toContain('admin');
    const badEmail = await post('/v1/auth/login', { email: 'not-an-email', password: PASSWORD });
    expect(expectError(badEmail, 400, 'VALIDATION_FAILED').error.message).toContain('body.email');
  });

  it('answers /v1/me without an Authorization header with 401 UNAUTHORIZED', async () => {
    expectError(await me(), 401, 'UNAUTHORIZED');
    expectError(await me('Basic dXNlcjpwYXNz'), 401, 'UNAUTHORIZED');
  });

  it('refuses a token whose signature was tampered with', async () => {
    const { token } = await register();
    const [header, payload, signature = ''] = token.split('.');
    const flipped = signature.replace(
      /^(.{5})(.)/,
      (_, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'),
    );
    expect(flipped).not.toBe(signature);
    expectError(await me(`Bearer ${header}.${payload}.${flipped}`), 401, 'UNAUTHORIZED');
  });

  it('refuses an unsigned token (alg "none")', async () => {
    const { user } = await register();
    const unsigned = `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url(
      JSON.stringify(validClaims(user.id)),
    )}.`;
    expectError(await me(`Bearer ${unsigned}`), 401, 'UNAUTHORIZED');
  });

  it('refuses a token signed with another secret', async () => {
    const { user } = await register();
    const forged = signToken(validClaims(user.id), randomBytes(32).toString('hex'));
    expectError(await me(`Bearer ${forged}`), 401, 'UNAUTHORIZED');
  });

  it('accepts a hand-signed token with the right secret, issuer and audience (the control for the cases around it)', async () => {
    const { user } = await register();
    const response = await me(`Bearer ${signToken(validClaims(user.id), jwtSecret)}`);
    expect(response.statusCode, response.body).toBe(200);
  });

  it('answers an expired token with 401 TOKEN_EXPIRED', async () => {
    const { user } = await register();
    const now = Math.floor(Date.now() / 1000);
    const expired = signToken({ ...validClaims(user.id), iat: now - 3660, exp: now - 60 }, jwtSecret);
    const body = expectError(await me(`Bearer ${expired}`), 401, 'TOKEN_EXPIRED');
    expect(body.error.message).toContain('POST /v1/auth/login');
  });

  it('refuses a token for another audience or issuer', async () => {
    const { user } = await register();
    const otherAudience = signToken({ ...validClaims(user.id), aud: 'another-api' }, jwtSecret);
    expectError(await me(`Bearer ${otherAudience}`), 401, 'UNAUTHORIZED');
    const otherIssuer = signToken({ ...validClaims(user.id), iss: 'someone-else' }, jwtSecret);
    expectError(await me(`Bearer ${otherIssuer}`), 401, 'UNAUTHORIZED');
  });

  it('answers a valid token for a deleted account with 401 UNAUTHORIZED on every /v1 route, never a 500', async () => {
    const { user, token } = await register();
    const authorization = `Bearer ${token}`;
    // The control: the token works while the account exists.
    expect((await me(authorization)).statusCode).toBe(200);
    await db.db.execute(sql`delete from users where id = ${user.id}`);

    const calls: [string, InjectOptions][] = [
      ['GET /v1/me', { method: 'GET', url: '/v1/me' }],
      [
        'POST /v1/workflows',
        {
          method: 'POST',
          url: '/v1/workflows',
          payload: {
            name: 'Orphan',
            steps: [
              { id: 'mail', type: 'email', params: { to: 'a@example.com', subject: 'Hi', text: 'Hi' } },
            ],
          },
        },
      ],
      ['GET /v1/workflows', { method: 'GET', url: '/v1/workflows' }],
      ['PUT /v1/secrets/X', { method: 'PUT', url: '/v1/secrets/X', payload: { value: 'v' } }],
      ['GET /v1/secrets', { method: 'GET', url: '/v1/secrets' }],
      ['GET /v1/runs/:runId', { method: 'GET', url: `/v1/runs/${randomUUID()}` }],
    ];
    for (const [route, options] of calls) {
      const response = await app.inject({ ...options, headers: { authorization } });
      expect(response.statusCode, `${route}: ${response.body}`).toBe(401);
      const body = expectError(response, 401, 'UNAUTHORIZED');
      expect(body.error.message, route).toContain('no longer exists');
    }
  });

  it('holds back only the addresses that have been failing: after 12 wrong passwords the right one still signs in from elsewhere', async () => {
    const email = newEmail();
    await register(email);
    // A guesser spread over 12 addresses: each one's password is checked (a client that has not failed yet always
    // is), and once the account backs off every wrong answer is a 429 with the wait, 1 s doubling up to 40 s.
    const guessers = Array.from({ length: 12 }, (_, i) => `198.51.100.${i + 1}`);
    const answers = [];
    for (const [i, address] of guessers.entries()) {
      answers.push(await post('/v1/auth/login', { email, password: `guess ${i}` }, address));
    }
    expectError(answers[0]!, 401, 'INVALID_CREDENTIALS');
    const waits = answers.slice(1).map((answer) => {
      const body = expectError(answer, 429, 'RATE_LIMITED');
      expect(body.error.message).toMatch(
        /^Too many failed sign-in attempts for this email: try again in \d+ seconds\.$/,
      );
      return Number(answer.headers['retry-after']);
    });
    expect(
      waits.every((wait) => wait >= 1 && wait <= 40),
      waits.join(),
    ).toBe(true);
    expect(waits.at(-1)).toBeGreaterThan(30);

    // A guessing address gets 429 whatever it sends, the right password too: its answers say nothing about it.
    const guesser = await post('/v1/auth/login', { email, password: PASSWORD }, guessers[0]);
    expectError(guesser, 429, 'RATE_LIMITED');
    expect(Number(guesser.headers['retry-after'])).toBeGreaterThan(30);

    // The owner, from an address that has not been failing: signed in at once, with a working token.
    const owner = await post('/v1/auth/login', { email, password: PASSWORD }, '203.0.113.9');
    expect(owner.statusCode, owner.body).toBe(200);
    expect((await me(`Bearer ${owner.json<{ token: string }>().token}`)).statusCode).toBe(200);

    // A success resets the backoff: the next wrong password is an ordinary 401 again.
    expectError(
      await post('/v1/auth/login', { email, password: 'guess 13' }, guessers[0]),
      401,
      'INVALID_CREDENTIALS',
    );
  });

  it('backs off unknown emails exactly like known ones, so a 429 does not tell that an account exists', async () => {
    const known = newEmail();
    await register(known);
    const statuses = async (email: string) => {
      const codes: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        codes.push((await post('/v1/auth/login', { email, password: `guess ${i}` })).statusCode);
      }
      return codes;
    };
    expect(await statuses(known)).toEqual([401, 429, 429]);
    expect(await statuses(newEmail())).toEqual([401, 429, 429]);
  });

  it('limits sign-in attempts per client address across emails', async () => {
    const address = '192.0.2.77';
    for (let attempt = 1; attempt <= 10; attempt += 1) {
      const response = await post('/v1/auth/login', { email: newEmail(), password: PASSWORD }, address);
      expectError(response, 401, 'INVALID_CREDENTIALS');
    }
    const limited = await post('/v1/auth/login', { email: newEmail(), password: PASSWORD }, address);
    expectError(limited, 429, 'RATE_LIMITED');
    expect(limited.headers['retry-after']).toMatch(/^\d+$/);
  });

  it('documents the auth routes in the OpenAPI document, /v1/me with bearer auth', async () => {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    const document = response.json<{ paths: Record<string, Record<string, { security?: unknown }>> }>();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/v1/auth/register', '/v1/auth/login', '/v1/me']),
    );
    expect(document.paths['/v1/me']?.get?.security).toEqual([{ bearerAuth: [] }]);
  });
});
