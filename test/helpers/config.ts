import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config.js';

/** A valid config built the same way production builds it, from environment-style strings. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig(testEnv(env));
}

/** The environment testConfig builds its config from: `env` over the tests' defaults (fresh keys each call). */
export function testEnv(env: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET: randomBytes(32).toString('hex'),
    SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    // Each test file gets its own task queue, so its workflows only ever reach its own worker.
    TEMPORAL_TASK_QUEUE: `hookflow-test-${randomBytes(4).toString('hex')}`,
    EMAIL_FROM: 'Hookflow Tests <tests@hookflow.test>',
    EMAIL_MAX_PER_SECOND: '1000',
    // Tests sign up many users from one address; the limit itself has its own test.
    REGISTER_RATE_LIMIT_PER_MINUTE: '10000',
    // Property tests start many manual runs as one user; the quota has its own test (api-contract.test.ts).
    MANUAL_RUNS_PER_MINUTE: '10000',
    // Tests sign up many users, none by invitation; the other modes have their own tests (registration.test.ts).
    REGISTRATION_MODE: 'open',
    ...env,
  };
}
