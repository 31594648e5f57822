import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type App } from '../../src/api/app.js';
import type { SecretResource } from '../../src/api/services/secret-service.js';
import { createSecretResolver } from '../../src/secrets/resolver.js';
import { createSecretRepo } from '../../src/db/repos/secret-repo.js';
import { MAX_SECRETS_PER_ACCOUNT } from '../../src/secrets/names.js';
import { testConfig } from '../helpers/config.js';
import { openMigratedDb, type TestDriver } from '../helpers/database.js';

const temporalAddress = inject('temporalAddress');

/** Every error answer has the DESIGN §3 shape. */
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
  return body.error;
}

describe.each<TestDriver>(['postgres', 'pglite'])('secrets on %s', (driver) => {
  const config = testConfig();
  let db: Awaited<ReturnType<typeof openMigratedDb>>;
  let connection: Connection;
  let app: App;
  /** Every line the app logged, at trace level. */
  const logLines: string[] = [];
  /** Every answer the app gave (status line aside): headers and body. */
  const answers: string[] = [];
  /** Every secret value a test sent: none may ever appear in an answer or a log line. */
  const sentValues: string[] = [];

  const newValue = (label = 'value') => {
    const value = `sk_${label}_${randomUUID()}`;
    sentValues.push(value);
    return value;
  };

  async function call(options: InjectOptions): Promise<LightMyRequestResponse> {
    const response = await app.inject(options);
    answers.push(JSON.stringify(response.headers) + response.body);
    return response;
  }

  async function signUp() {
    const response = await call({
      method: 'POST',
      url: '/v1/auth/register',
      payload: { email: `user-${randomUUID()}@example.com`, password: 'correct horse battery staple' },
    });
    expect(response.statusCode, response.body).toBe(201);
    const body = response.json<{ user: { id: string }; token: string }>();
    return { authorization: `Bearer ${body.token}`, userId: body.user.id };
  }

  const put = (authorization: string, name: string, payload: unknown) =>
    call({
      method: 'PUT',
      url: `/v1/secrets/${name}`,
      headers: { authorization },
      payload: payload as Record<string, unknown>,
    });
  const list = async (authorization: string) => {
    const response = await call({ method: 'GET', url: '/v1/secrets', headers: { authorization } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ items: SecretResource[] }>().items;
  };
  const remove = (authorization: string, name: string) =>
    call({ method: 'DELETE', url: `/v1/secrets/${name}`, headers: { authorization } });

  /** The worker's view: decrypted values, through the same repository and key as the API. */
  const resolver = () =>
    createSecretResolver({ secrets: createSecretRepo(db.db), key: config.secrets.encryptionKey! });

  /** Rows read with plain SQL, the ciphertext rendered every way a reader of the database could see it. */
  async function rawRows(ownerId: string) {
    const result = await db.db.execute(
      sql`select name, encode(ciphertext, 'hex') as hex, encode(ciphertext, 'escape') as escaped,
                 row_to_json(s)::text as json
          from secrets s where owner_id = ${ownerId} order by name`,
    );
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
      name: string;
      hex: string;
      escaped: string;
      json: string;
    }[];
    return rows;
  }

  beforeAll(async () => {
    db = await openMigratedDb(driver);
    connection = await Connection.connect({ address: temporalAddress });
    app = await buildApp({
      config,
      db,
      temporal: { connection, client: new Client({ connection }) },
      logger: { level: 'trace', stream: { write: (line: string) => void logLines.push(line) } },
    });
  });
  afterAll(async () => {
    await app?.close();
    await connection?.close();
    await db?.close();
  });

  it('creates, replaces, lists and deletes a secret; no answer contains the value', async () => {
    const alice = await signUp();
    const first = newValue('first');
    const created = await put(alice.authorization, 'CRM_TOKEN', { value: first });
    expect(created.statusCode, created.body).toBe(200);
    const createdBody = created.json<SecretResource>();
    expect(createdBody).toEqual({
      name: 'CRM_TOKEN',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
      updatedAt: createdBody.createdAt,
    });

    const second = newValue('second');
    const replaced = await put(alice.authorization, 'CRM_TOKEN', { value: second });
    expect(replaced.statusCode, replaced.body).toBe(200);
    const replacedBody = replaced.json<SecretResource>();
    expect(replacedBody.createdAt).toBe(createdBody.createdAt);
    expect(Date.parse(replacedBody.updatedAt)).toBeGreaterThanOrEqual(Date.parse(createdBody.updatedAt));
    expect((await resolver().resolveSecrets(alice.userId, ['CRM_TOKEN'])).values.get('CRM_TOKEN')).toBe(
      second,
    );

    expect((await put(alice.authorization, 'ANOTHER_ONE', { value: newValue() })).statusCode).toBe(200);
    const items = await list(alice.authorization);
    expect(items.map((item) => item.name)).toEqual(['ANOTHER_ONE', 'CRM_TOKEN']);
    for (const item of items) expect(Object.keys(item).sort()).toEqual(['createdAt', 'name', 'updatedAt']);
    expect(items[1]).toEqual(replacedBody);

    const deleted = await remove(alice.authorization, 'CRM_TOKEN');
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expect((await list(alice.authorization)).map((item) => item.name)).toEqual(['ANOTHER_ONE']);
    const again = expectError(await remove(alice.authorization, 'CRM_TOKEN'), 404, 'SECRET_NOT_FOUND');
    expect(again.message).toContain('CRM_TOKEN');
    expectError(await remove(alice.authorization, 'NEVER_EXISTED'), 404, 'SECRET_NOT_FOUND');
  });

  it('starts with an empty list', async () => {
    const newcomer = await signUp();
    expect(await list(newcomer.authorization)).toEqual([]);
  });

  it('validates names and values with messages a person can act on', async () => {
    const { authorization } = await signUp();
    for (const name of ['crm_token', '1TOKEN', '_TOKEN', 'CRM-TOKEN', 'CRM%20TOKEN', `A${'B'.repeat(64)}`]) {
      const error = expectError(
        await put(authorization, name, { value: newValue() }),
        400,
        'VALIDATION_FAILED',
      );
      expect(error.message, name).toContain('params.name');
      expect(error.message, name).toContain('upper-case letter');
      expect(error.message, name).toContain('CRM_TOKEN');
      expectError(await remove(authorization, name), 400, 'VALIDATION_FAILED');
    }
    expect((await put(authorization, `A${'B'.repeat(63)}`, { value: newValue() })).statusCode).toBe(200);
    expect((await put(authorization, 'A', { value: newValue() })).statusCode).toBe(200);

    const empty = expectError(await put(authorization, 'EMPTY', { value: '' }), 400, 'VALIDATION_FAILED');
    expect(empty.message).toContain('body.value: must not be empty');
    expectError(await put(authorization, 'MISSING', {}), 400, 'VALIDATION_FAILED');
    expectError(await put(authorization, 'NUMBER', { value: 42 }), 400, 'VALIDATION_FAILED');
    expectError(
      await put(authorization, 'EXTRA', { value: newValue(), note: 'x' }),
      400,
      'VALIDATION_FAILED',
    );

    // 8 KiB counted in UTF-8 bytes, not characters.
    const limit = `${newValue('big')}${'x'.repeat(8192)}`.slice(0, 8192);
    sentValues.push(limit);
    expect((await put(authorization, 'BIG', { value: limit })).statusCode).toBe(200);
    const over = `${limit}y`;
    sentValues.push(over);
    const tooBig = expectError(await put(authorization, 'BIG', { value: over }), 400, 'VALIDATION_FAILED');
    expect(tooBig.message).toContain('8192 bytes');
    const wide = `${newValue('wide')}${'é'.repeat(4096)}`;
    sentValues.push(wide);
    expect(wide.length).toBeLessThan(8192);
    expectError(await put(authorization, 'WIDE', { value: wide }), 400, 'VALIDATION_FAILED');
    const unicode = newValue('päss wörd 🔑');
    expect((await put(authorization, 'UNICODE', { value: unicode })).statusCode).toBe(200);
    const userId = (await call({ method: 'GET', url: '/v1/me', headers: { authorization } })).json<{
      id: string;
    }>().id;
    expect((await resolver().resolveSecrets(userId, ['UNICODE', 'BIG'])).values).toEqual(
      new Map([
        ['UNICODE', unicode],
        ['BIG', limit],
      ]),
    );

    expectError(
      await call({
        method: 'PUT',
        url: '/v1/secrets/NUL',
        headers: { authorization, 'content-type': 'application/json' },
        payload: '{"value":"a\\u0000b"}',
      }),
      400,
      'INVALID_CHARACTER',
    );
  });

  it('needs a bearer token on every endpoint', async () => {
    expectError(await call({ method: 'GET', url: '/v1/secrets' }), 401, 'UNAUTHORIZED');
    expectError(
      await call({ method: 'PUT', url: '/v1/secrets/CRM_TOKEN', payload: { value: newValue() } }),
      401,
      'UNAUTHORIZED',
    );
    expectError(await call({ method: 'DELETE', url: '/v1/secrets/CRM_TOKEN' }), 401, 'UNAUTHORIZED');
  });

  it('stores only ciphertext: the plaintext is nowhere in the row', async () => {
    const { authorization, userId } = await signUp();
    const value = newValue('at-rest');
    expect((await put(authorization, 'AT_REST', { value })).statusCode).toBe(200);
    const [row] = await rawRows(userId);
    expect(row?.name).toBe('AT_REST');
    const plaintextHex = Buffer.from(value).toString('hex');
    expect(row!.hex).not.toContain(plaintextHex);
    expect(row!.escaped).not.toContain(value);
    expect(row!.json).not.toContain(value);
    expect(row!.json).not.toContain(Buffer.from(value).toString('base64'));
    // format version 1, key id 1, 12-byte IV, ciphertext as long as the value, 16-byte tag
    expect(row!.hex.slice(0, 4)).toBe('0101');
    expect(row!.hex.length / 2).toBe(2 + 12 + Buffer.byteLength(value) + 16);

    // The same value again is stored differently (fresh IV).
    expect((await put(authorization, 'AT_REST', { value })).statusCode).toBe(200);
    const [again] = await rawRows(userId);
    expect(again!.hex).not.toBe(row!.hex);
  });

  it("keeps accounts apart: B cannot see, delete or resolve A's secret, and a copied row does not decrypt", async () => {
    const alice = await signUp();
    const bob = await signUp();
    const aliceValue = newValue('alice');
    expect((await put(alice.authorization, 'SHARED_NAME', { value: aliceValue })).statusCode).toBe(200);
    expect((await put(alice.authorization, 'ALICE_ONLY', { value: newValue() })).statusCode).toBe(200);

    expect(await list(bob.authorization)).toEqual([]);
    expectError(await remove(bob.authorization, 'ALICE_ONLY'), 404, 'SECRET_NOT_FOUND');
    const bobResolved = await resolver().resolveSecrets(bob.userId, ['SHARED_NAME', 'ALICE_ONLY']);
    expect(bobResolved.values.size).toBe(0);
    expect(bobResolved.missing).toEqual(['SHARED_NAME', 'ALICE_ONLY']);

    // Bob's secret of the same name is his own; Alice's is untouched.
    const bobValue = newValue('bob');
    expect((await put(bob.authorization, 'SHARED_NAME', { value: bobValue })).statusCode).toBe(200);
    expect((await remove(bob.authorization, 'SHARED_NAME')).statusCode).toBe(204);
    expect((await put(bob.authorization, 'SHARED_NAME', { value: bobValue })).statusCode).toBe(200);
    const aliceResolved = await resolver().resolveSecrets(alice.userId, [
      'SHARED_NAME',
      'ALICE_ONLY',
      'NOPE',
    ]);
    expect(aliceResolved.values.get('SHARED_NAME')).toBe(aliceValue);
    expect(aliceResolved.missing).toEqual(['NOPE']);
    expect((await resolver().resolveSecrets(bob.userId, ['SHARED_NAME'])).values.get('SHARED_NAME')).toBe(
      bobValue,
    );
    expect((await list(alice.authorization)).map((item) => item.name)).toEqual(['ALICE_ONLY', 'SHARED_NAME']);

    // Someone with database access copies Alice's ciphertext into Bob's row, or renames it: it does not decrypt.
    await db.db.execute(
      sql`update secrets set ciphertext = (select ciphertext from secrets where owner_id = ${alice.userId}
            and name = 'ALICE_ONLY') where owner_id = ${bob.userId} and name = 'SHARED_NAME'`,
    );
    await expect(resolver().resolveSecrets(bob.userId, ['SHARED_NAME'])).rejects.toThrow(
      /SHARED_NAME cannot be decrypted/,
    );
    await db.db.execute(
      sql`update secrets set name = 'RENAMED' where owner_id = ${alice.userId} and name = 'ALICE_ONLY'`,
    );
    const renamed = await resolver()
      .resolveSecrets(alice.userId, ['RENAMED'])
      .catch((error: unknown) => error);
    expect(String(renamed)).toMatch(/RENAMED cannot be decrypted/);
    for (const value of sentValues) expect(String(renamed)).not.toContain(value);
  });

  it(`allows ${MAX_SECRETS_PER_ACCOUNT} secrets per account, also under concurrent creates`, async () => {
    const { authorization } = await signUp();
    const value = newValue('many');
    for (let index = 0; index < MAX_SECRETS_PER_ACCOUNT - 3; index++) {
      expect((await put(authorization, `S_${index}`, { value })).statusCode).toBe(200);
    }
    const racing = await Promise.all(
      Array.from({ length: 6 }, (_, index) => put(authorization, `RACE_${index}`, { value })),
    );
    expect(racing.filter((response) => response.statusCode === 200)).toHaveLength(3);
    for (const refused of racing.filter((response) => response.statusCode !== 200)) {
      const error = expectError(refused, 409, 'SECRET_LIMIT_REACHED');
      expect(error.message).toContain(String(MAX_SECRETS_PER_ACCOUNT));
      expect(error.message).toContain('DELETE /v1/secrets/:name');
    }
    expect(await list(authorization)).toHaveLength(MAX_SECRETS_PER_ACCOUNT);
    // Replacing one is not adding one; deleting one makes room.
    expect((await put(authorization, 'S_0', { value: newValue() })).statusCode).toBe(200);
    expectError(await put(authorization, 'ONE_MORE', { value }), 409, 'SECRET_LIMIT_REACHED');
    expect((await remove(authorization, 'S_1')).statusCode).toBe(204);
    expect((await put(authorization, 'ONE_MORE', { value })).statusCode).toBe(200);
  });

  it("deletes an account's secrets with the account", async () => {
    const { authorization, userId } = await signUp();
    expect((await put(authorization, 'GONE', { value: newValue() })).statusCode).toBe(200);
    await db.db.execute(sql`delete from users where id = ${userId}`);
    expect(await rawRows(userId)).toEqual([]);
  });

  it('documents the endpoints in /openapi.json, the value as write-only', async () => {
    const document = (await call({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
    }>();
    expect(Object.keys(document.paths['/v1/secrets'] ?? {})).toContain('get');
    const byName = document.paths['/v1/secrets/{name}'] ?? {};
    expect(Object.keys(byName).sort()).toEqual(['delete', 'put']);
    expect(Object.keys(byName.put!.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '409']));
    expect(JSON.stringify(byName.put!.requestBody)).toContain('"writeOnly":true');
  });

  // Runs last in this file: it checks everything the tests above made the app log and answer.
  it('never puts a value in an answer or a log line, even at trace level', () => {
    expect(sentValues.length).toBeGreaterThan(10);
    expect(logLines.length).toBeGreaterThan(50);
    expect(logLines.join('')).toContain('"url":"/v1/secrets/CRM_TOKEN"');
    const everything = `${logLines.join('\n')}\n${answers.join('\n')}`;
    for (const value of sentValues) {
      expect(everything.includes(value), `value ${value} leaked`).toBe(false);
      // Its random part on its own too, in case something truncated or re-encoded the value.
      const random = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(value)?.[0];
      if (random) expect(everything.includes(random), `value ${value} leaked`).toBe(false);
    }
  });
});
