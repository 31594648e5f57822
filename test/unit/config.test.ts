import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

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
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
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
