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
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    for (const key of ['PORT', 'DATABASE_URL', 'JWT_SECRET', 'EMAIL_MAX_PER_SECOND'])
      expect(message).toContain(key);
    expect((caught as ConfigError).problems).toHaveLength(4);
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
});
