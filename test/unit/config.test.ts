import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEmailTransport } from '../../src/activities/email-transport.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { sqlitePragmaArgs } from '../../src/temporal/dev-server.js';

describe('loadConfig', () => {
  it('gives working embedded defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(3000);
    expect(config.http.publicUrl).toBe('http://localhost:3000');
    expect(config.db.url).toBeUndefined();
    expect(config.db.pgliteDataDir).toBe('.data/pglite');
    expect(config.temporal).toMatchObject({
      address: undefined,
      namespace: 'default',
      taskQueue: 'hookflow',
    });
    expect(config.temporal.uiUrl).toBe('http://localhost:8233');
    expect(config.email.maxPerSecond).toBe(5);
    expect(config.webhooks.maxBodyBytes).toBe(256 * 1024);
  });

  it("writes the dev server's SQLite in WAL mode with synchronous=normal unless full is asked for", () => {
    expect(loadConfig({}).temporal.devServer.sqliteSynchronous).toBe('normal');
    expect(loadConfig({ TEMPORAL_DEV_SQLITE_SYNCHRONOUS: 'full' }).temporal.devServer.sqliteSynchronous).toBe(
      'full',
    );
    expect(() => loadConfig({ TEMPORAL_DEV_SQLITE_SYNCHRONOUS: 'off' })).toThrow(
      /TEMPORAL_DEV_SQLITE_SYNCHRONOUS/,
    );
    expect(sqlitePragmaArgs('normal')).toEqual([
      '--sqlite-pragma',
      'journal_mode=wal',
      '--sqlite-pragma',
      'synchronous=normal',
    ]);
  });

  it('takes EMAIL_MAX_PER_SECOND=0 as no provider rate limit, and refuses a negative one with what it accepts', () => {
    expect(loadConfig({ EMAIL_MAX_PER_SECOND: '0' }).email.maxPerSecond).toBe(0);
    expect(loadConfig({ EMAIL_MAX_PER_SECOND: '2.5' }).email.maxPerSecond).toBe(2.5);
    expect(() => loadConfig({ EMAIL_MAX_PER_SECOND: '-1' })).toThrow(
      /EMAIL_MAX_PER_SECOND.*must be a number ≥ 0 \(emails per second; 0: no limit\)/,
    );
  });

  it('names every bad key in one error', () => {
    let caught: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        JWT_SECRET: 'short',
        EMAIL_MAX_PER_SECOND: '-1',
        SECRETS_ENCRYPTION_KEY: 'too-short',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    for (const key of [
      'PORT',
      'DATABASE_URL',
      'JWT_SECRET',
      'EMAIL_MAX_PER_SECOND',
      'SECRETS_ENCRYPTION_KEY',
    ])
      expect(message).toContain(key);
    expect((caught as ConfigError).problems).toHaveLength(5);
  });

  it('serves metrics by default: the API openly, the worker on loopback port 9464', () => {
    expect(loadConfig({}).metrics).toEqual({
      enabled: true,
      token: undefined,
      worker: { host: '127.0.0.1', port: 9464 },
    });
    const custom = loadConfig({
      METRICS_ENABLED: 'false',
      METRICS_TOKEN: 'a'.repeat(16),
      WORKER_METRICS_HOST: '0.0.0.0',
      WORKER_METRICS_PORT: '9500',
    }).metrics;
    expect(custom).toEqual({
      enabled: false,
      token: 'a'.repeat(16),
      worker: { host: '0.0.0.0', port: 9500 },
    });
  });

  it('refuses a short METRICS_TOKEN and a worker metrics port nobody could scrape', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'secret' })).toThrow(/METRICS_TOKEN: must be at least 16/);
    expect(() => loadConfig({ METRICS_TOKEN: 'with a space in it!' })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ WORKER_METRICS_PORT: '0' })).toThrow(/WORKER_METRICS_PORT/);
  });

  it('reads "false" as false, unlike a coerced boolean', () => {
    expect(loadConfig({ DB_MIGRATE_ON_START: 'false' }).db.migrateOnStart).toBe(false);
    expect(loadConfig({ DB_MIGRATE_ON_START: 'true' }).db.migrateOnStart).toBe(true);
    expect(() => loadConfig({ DB_MIGRATE_ON_START: 'yes' })).toThrow(/DB_MIGRATE_ON_START/);
  });

  it('treats empty values as unset and trims trailing slashes from URLs', () => {
    const config = loadConfig({ PORT: '', PUBLIC_URL: 'https://hooks.example.com/', TEMPORAL_ADDRESS: '' });
    expect(config.http.port).toBe(3000);
    expect(config.http.publicUrl).toBe('https://hooks.example.com');
    expect(config.temporal.address).toBeUndefined();
  });

  it('reads SECRETS_ENCRYPTION_KEY as 32 bytes of base64 or hex', () => {
    const bytes = randomBytes(32);
    for (const text of [bytes.toString('base64'), bytes.toString('hex')]) {
      const key = loadConfig({ SECRETS_ENCRYPTION_KEY: text }).secrets.encryptionKey;
      expect(key?.id).toBe(1);
      expect(key?.key.export().equals(bytes)).toBe(true);
    }
    expect(loadConfig({ SECRETS_ENCRYPTION_KEY: '' }).secrets.encryptionKey).toBeUndefined();
  });

  it('refuses a SECRETS_ENCRYPTION_KEY of the wrong length, saying how to generate one', () => {
    for (const text of [randomBytes(16).toString('base64'), randomBytes(48).toString('hex'), 'passw0rd!']) {
      expect(() => loadConfig({ SECRETS_ENCRYPTION_KEY: text })).toThrow(
        /SECRETS_ENCRYPTION_KEY: .*openssl rand -base64 32/,
      );
    }
  });

  it('requires SECRETS_ENCRYPTION_KEY in production, once, alongside the other bad keys', () => {
    // With an email provider, so that the secrets key is the only production requirement in question.
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig({ RESEND_API_KEY: 're_123', PAYLOAD_ENCRYPTION_KEYS: payloadKeys(), ...env });
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
    };
    const missing = problemsOf({ NODE_ENV: 'production', PORT: 'eighty', SECRETS_ENCRYPTION_KEY: '' });
    expect(missing).toHaveLength(2);
    expect(missing[0]).toMatch(/^PORT: /);
    expect(missing[1]).toMatch(
      /^SECRETS_ENCRYPTION_KEY: required when NODE_ENV=production.*openssl rand -base64 32/,
    );
    // A bad key in production is reported as bad, not also as missing.
    const bad = problemsOf({ NODE_ENV: 'production', SECRETS_ENCRYPTION_KEY: 'short' });
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatch(/^SECRETS_ENCRYPTION_KEY: must decode to 32 bytes/);

    const key = randomBytes(32).toString('base64');
    expect(problemsOf({ NODE_ENV: 'production', SECRETS_ENCRYPTION_KEY: key })).toEqual([]);
    expect(loadConfig({ NODE_ENV: 'development' }).secrets.encryptionKey).toBeUndefined();
  });
});

describe('JWT_SECRET', () => {
  const problemOf = (secret: string) => {
    try {
      loadConfig({ JWT_SECRET: secret });
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(1);
      return problems[0];
    }
  };

  it('accepts 32 random bytes as hex, base64 or base64url, and long random text', () => {
    const bytes = randomBytes(32);
    for (const secret of [
      bytes.toString('hex'),
      bytes.toString('base64'),
      bytes.toString('base64url'),
      randomBytes(48).toString('base64'), // docker-compose.yml's `openssl rand -base64 48`
      'Tr0ub4dor&3-xK9!mQz#Lp2$wVb7^nRe', // 32 bytes of varied text
    ]) {
      expect(problemOf(secret), secret).toBeUndefined();
      expect(loadConfig({ JWT_SECRET: secret }).auth.jwtSecret).toBe(secret);
    }
  });

  it('counts the bytes an encoding carries, not its characters', () => {
    // Each of these is 32 characters or more, which the old "32 characters" rule let through.
    expect(problemOf(randomBytes(16).toString('hex'))).toMatch(
      /^JWT_SECRET: must carry at least 256 bits .*as hex, its 32 characters are 16 bytes/,
    );
    expect(problemOf(randomBytes(31).toString('hex'))).toMatch(/62 characters are 31 bytes/);
    expect(problemOf(randomBytes(24).toString('base64'))).toMatch(
      /as base64, its 32 characters are 24 bytes/,
    );
    expect(problemOf(randomBytes(31).toString('base64url'))).toMatch(/as base64, .* are 31 bytes/);
    // Text counts in UTF-8 bytes.
    expect(problemOf('Tr0ub4dor&3-xK9!mQz#Lp2$wVb7^nR')).toMatch(/it is 31 bytes long/);
  });

  it('refuses values that are obviously not random, whatever their length', () => {
    expect(problemOf('a'.repeat(64))).toMatch(/one character repeated/);
    expect(problemOf('0'.repeat(64))).toMatch(/one character repeated/);
    expect(problemOf('!'.repeat(40))).toMatch(/one character repeated/);
    expect(problemOf('é'.repeat(16))).toMatch(/one character repeated/);
    expect(problemOf('abcdefghijklmnopq'.repeat(3))).toMatch(/short pattern repeated/);
    expect(problemOf('correct horse battery staple!!!!')).toMatch(/only 14 distinct characters/);
    // 64 hex characters drawn from four symbols: long enough, but 128 bits at most.
    expect(
      problemOf(
        randomBytes(32)
          .toString('hex')
          .replace(/[4-9a-f]/g, '0'),
      ),
    ).toMatch(/only [1-4] distinct characters/);
  });

  it('says how to generate a good one', () => {
    for (const secret of ['short', randomBytes(16).toString('hex'), 'x'.repeat(64)]) {
      expect(problemOf(secret)).toMatch(/^JWT_SECRET: .*openssl rand -base64 32/);
    }
  });
});

describe('TRUST_PROXY', () => {
  it('trusts no proxy by default', () => {
    expect(loadConfig({}).http.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '' }).http.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).http.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '0' }).http.trustProxy).toBe(false);
  });

  it('reads a hop count or a list of proxy addresses and CIDRs', () => {
    expect(loadConfig({ TRUST_PROXY: '1' }).http.trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.10 fd00::/8,loopback' }).http.trustProxy).toEqual(
      ['10.0.0.0/8', '192.168.1.10', 'fd00::/8', 'loopback'],
    );
  });

  it('refuses "true" (anyone could pick their address) and entries that are not addresses', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY: trusting every proxy/);
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY: "proxy.internal"/);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/40' })).toThrow(/TRUST_PROXY: "10.0.0.0\/40"/);
  });
});

describe('EMAIL_TRANSPORT', () => {
  const production = () => ({
    NODE_ENV: 'production',
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    PAYLOAD_ENCRYPTION_KEYS: payloadKeys(),
  });

  it('defaults to Resend when RESEND_API_KEY is set, else to the console outside production', () => {
    expect(loadConfig({ RESEND_API_KEY: 're_123' }).email.transport).toBe('resend');
    expect(loadConfig({}).email.transport).toBe('console');
    expect(loadConfig({ NODE_ENV: 'test' }).email.transport).toBe('console');
    expect(loadConfig({ ...production(), RESEND_API_KEY: 're_123' }).email.transport).toBe('resend');
  });

  it('refuses production without RESEND_API_KEY unless EMAIL_TRANSPORT=console is chosen', () => {
    let caught: unknown;
    try {
      loadConfig({ ...production(), RESEND_API_KEY: '' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^RESEND_API_KEY: required when NODE_ENV=production/);
    expect(problems[0]).toContain('EMAIL_TRANSPORT=console');

    expect(loadConfig({ ...production(), EMAIL_TRANSPORT: 'console' }).email.transport).toBe('console');
  });

  it('builds the transport it names', () => {
    expect(createEmailTransport(loadConfig({ RESEND_API_KEY: 're_123' }).email).name).toBe('resend');
    expect(createEmailTransport(loadConfig({}).email).name).toBe('console');
    expect(
      createEmailTransport(loadConfig({ RESEND_API_KEY: 're_123', EMAIL_TRANSPORT: 'console' }).email).name,
    ).toBe('console');
    expect(createEmailTransport(loadConfig({ ...production(), EMAIL_TRANSPORT: 'console' }).email).name).toBe(
      'console',
    );
  });

  it('takes an explicit choice and refuses resend without a key or an unknown transport', () => {
    expect(loadConfig({ RESEND_API_KEY: 're_123', EMAIL_TRANSPORT: 'console' }).email.transport).toBe(
      'console',
    );
    expect(() => loadConfig({ EMAIL_TRANSPORT: 'resend' })).toThrow(
      /RESEND_API_KEY: required with EMAIL_TRANSPORT=resend/,
    );
    expect(() => loadConfig({ EMAIL_TRANSPORT: 'smtp' })).toThrow(/EMAIL_TRANSPORT/);
  });

  it('reports the missing provider together with the other bad keys', () => {
    let caught: unknown;
    try {
      loadConfig({ NODE_ENV: 'production', PORT: 'eighty' });
    } catch (error) {
      caught = error;
    }
    const problems = (caught as ConfigError).problems;
    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual([
      'PAYLOAD_ENCRYPTION_KEYS',
      'PORT',
      'RESEND_API_KEY',
      'SECRETS_ENCRYPTION_KEY',
    ]);
  });
});

describe('REGISTRATION_MODE', () => {
  it('is first-user by default, so a fresh `npm start` lets its first account in as the owner', () => {
    expect(loadConfig({}).auth.registrationMode).toBe('first-user');
    expect(loadConfig({ REGISTRATION_MODE: '' }).auth.registrationMode).toBe('first-user');
    expect(loadConfig({ REGISTRATION_MODE: 'open' }).auth.registrationMode).toBe('open');
    expect(loadConfig({ REGISTRATION_MODE: 'closed' }).auth.registrationMode).toBe('closed');
  });

  it('refuses anything else, naming the key', () => {
    expect(() => loadConfig({ REGISTRATION_MODE: 'invite' })).toThrow(/REGISTRATION_MODE/);
  });
});

describe('PAYLOAD_ENCRYPTION_KEYS and the Temporal connection', () => {
  const production = () => ({
    NODE_ENV: 'production',
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    RESEND_API_KEY: 're_123',
  });
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it('reads id:key pairs; the first encrypts', () => {
    const keys = loadConfig({
      PAYLOAD_ENCRYPTION_KEYS: `new:${randomBytes(32).toString('base64')},old:${randomBytes(32).toString('hex')}`,
    }).temporal.payloadKeys;
    expect(keys?.map((key) => key.id)).toEqual(['new', 'old']);
    expect(loadConfig({}).temporal.payloadKeys).toBeUndefined();
  });

  it('requires them in production, and says how to make one', () => {
    const problems = problemsOf(production());
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^PAYLOAD_ENCRYPTION_KEYS: required when NODE_ENV=production.*openssl rand -base64 32/,
    );
    expect(problemsOf({ ...production(), PAYLOAD_ENCRYPTION_KEYS: payloadKeys() })).toEqual([]);
  });

  it('refuses a malformed list without echoing the key', () => {
    const short = randomBytes(16).toString('base64');
    const problems = problemsOf({ PAYLOAD_ENCRYPTION_KEYS: `k1:${short}` });
    expect(problems[0]).toMatch(/^PAYLOAD_ENCRYPTION_KEYS: key "k1": must decode to 32 bytes/);
    expect(problems[0]).not.toContain(short);
  });

  it('connects in plain text by default, with TLS when asked or implied by an API key, and checks the files at start', () => {
    expect(loadConfig({}).temporal.connection).toEqual({ tls: undefined, apiKey: undefined });
    expect(loadConfig({ TEMPORAL_API_KEY: 'cloud-key' }).temporal.connection).toEqual({
      tls: {},
      apiKey: 'cloud-key',
    });
    const dir = mkdtempSync(join(tmpdir(), 'hookflow-tls-'));
    try {
      const pem = (name: string) => {
        const path = join(dir, name);
        writeFileSync(
          path,
          `-----BEGIN ${name.toUpperCase()}-----\nAAAA\n-----END ${name.toUpperCase()}-----\n`,
        );
        return path;
      };
      const config = loadConfig({
        TEMPORAL_TLS_CA: pem('ca'),
        TEMPORAL_TLS_CERT: pem('cert'),
        TEMPORAL_TLS_KEY: pem('key'),
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      });
      expect(config.temporal.connection.tls?.serverNameOverride).toBe('temporal.internal');
      expect(config.temporal.connection.tls?.serverRootCACertificate?.toString()).toContain('BEGIN CA');
      expect(config.temporal.connection.tls?.clientCertPair?.key.toString()).toContain('BEGIN KEY');

      expect(problemsOf({ TEMPORAL_TLS_CA: join(dir, 'missing.pem') })[0]).toMatch(
        /^TEMPORAL_TLS_CA: cannot read .*missing\.pem/,
      );
      expect(problemsOf({ TEMPORAL_TLS_CERT: pem('cert') })[0]).toMatch(/^TEMPORAL_TLS_CERT: .*go together/);
      writeFileSync(join(dir, 'not.pem'), 'hello');
      expect(problemsOf({ TEMPORAL_TLS_CA: join(dir, 'not.pem') })[0]).toMatch(/not a PEM file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function payloadKeys(): string {
  return `k1:${randomBytes(32).toString('base64')}`;
}
