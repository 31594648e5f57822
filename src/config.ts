import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseCidrList } from './activities/http/address-policy.js';
import { parsePayloadKeys } from './temporal/payload-codec.js';
import { CURRENT_SECRETS_KEY_ID, decodeSecretsKey, type SecretsKey } from './secrets/crypto.js';
import { DOMAIN_PATTERN, senderDomain } from './email/sender-domains.js';
import { mailboxAddress } from './workflows/template.js';

/**
 * Environment parsing. Booleans are parsed from the literal strings "true"/"false" (never z.coerce.boolean(),
 * which turns "false" into true); empty strings count as unset so `FOO=` in an .env file means "default".
 */
export const emptyAsUndefined = (value: unknown) => (value === '' ? undefined : value);
export const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
export const port = (fallback: number) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65535).default(fallback));
export const positiveInt = (fallback: number) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().positive().default(fallback));
export const booleanString = (fallback: boolean) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .enum(['true', 'false'], { message: 'must be "true" or "false"' })
      .default(fallback ? 'true' : 'false')
      .transform((value) => value === 'true'),
  );
const url = z.preprocess(emptyAsUndefined, z.url().optional());
/** 32 bytes as base64 or hex, decoded into a KeyObject (which never prints its bytes). */
const secretsKey = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .transform((value, ctx) => {
      const decoded = decodeSecretsKey(value);
      if ('error' in decoded) {
        ctx.addIssue({ code: 'custom', message: decoded.error });
        return z.NEVER;
      }
      return decoded.key;
    })
    .optional(),
);

/** PAYLOAD_ENCRYPTION_KEYS: `id:key,...` (src/temporal/payload-codec.ts), decoded into KeyObjects. */
const payloadKeys = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .transform((value, ctx) => {
      const parsed = parsePayloadKeys(value);
      if ('error' in parsed) {
        ctx.addIssue({
          code: 'custom',
          message: `${parsed.error}. Generate a key with \`openssl rand -base64 32\``,
        });
        return z.NEVER;
      }
      return parsed.keys;
    })
    .optional(),
);

/** A path to a PEM file, read at start so a wrong path or an unreadable file stops the process with its name. */
const pemFile = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .transform((path, ctx) => {
      try {
        const contents = readFileSync(path);
        if (!contents.includes('-----BEGIN ')) {
          ctx.addIssue({ code: 'custom', message: `${path} is not a PEM file (no "-----BEGIN" line)` });
          return z.NEVER;
        }
        return { path, contents };
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `cannot read ${path}: ${(error as Error).message}` });
        return z.NEVER;
      }
    })
    .optional(),
);

/** Random bytes HS256 access tokens need (RFC 7518 §3.2: a key at least as long as the hash output). */
const JWT_SECRET_MIN_BYTES = 32;
const JWT_SECRET_HINT = 'Generate one with `openssl rand -base64 32`';

/**
 * Why `value` cannot be a JWT secret, or undefined. The bound is on what the value can carry, in bytes: hex carries 4
 * bits a character and base64 6, so 32 hex characters (which pass a "32 characters" rule) are only 128 bits. Other
 * text counts byte for byte. Values that are obviously not random (one character repeated, a short pattern
 * repeated, too few distinct characters) are refused whatever their length.
 */
function jwtSecretProblem(value: string): string | undefined {
  const problem = (detail: string) =>
    `must carry at least 256 bits (${JWT_SECRET_MIN_BYTES} random bytes); ${detail}. ${JWT_SECRET_HINT}`;
  let minDistinct = 16;
  if (/^[0-9a-f]+$/i.test(value)) {
    const bytes = Math.floor(value.length / 2);
    if (bytes < JWT_SECRET_MIN_BYTES)
      return problem(`as hex, its ${value.length} characters are ${bytes} bytes`);
    minDistinct = 8; // hex has 16 symbols only
  } else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    const bytes = Math.floor((value.replace(/=+$/, '').length * 6) / 8);
    if (bytes < JWT_SECRET_MIN_BYTES) {
      return problem(`as base64, its ${value.length} characters are ${bytes} bytes`);
    }
  } else {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes < JWT_SECRET_MIN_BYTES) return problem(`it is ${bytes} bytes long`);
  }
  const distinct = new Set(value).size;
  if (distinct === 1) return problem('it is one character repeated');
  if ((value + value).indexOf(value, 1) < value.length) return problem('it is a short pattern repeated');
  if (distinct < minDistinct)
    return problem(`it has only ${distinct} distinct characters, too few to be random`);
  return undefined;
}

/**
 * TRUST_PROXY: whom to believe about the client's address (X-Forwarded-For). `false` (default): nobody, the socket's
 * peer is the client; a hop count: that many proxies in front, whatever their address; otherwise proxy addresses or
 * CIDRs, or proxy-addr's names `loopback`, `linklocal`, `uniquelocal`.
 */
const TRUST_PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
const trustProxy = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default('false')
    .transform((value, ctx): false | number | string[] => {
      const text = value.trim();
      if (text === 'false' || text === '0') return false;
      if (/^\d+$/.test(text)) return Number(text);
      if (text === 'true') {
        ctx.addIssue({
          code: 'custom',
          message:
            'trusting every proxy lets any client pick its address through X-Forwarded-For: give the number of ' +
            'proxies in front (e.g. 1) or their addresses (e.g. 10.0.0.0/8, or loopback)',
        });
        return z.NEVER;
      }
      const entries = text.split(/[\s,]+/).filter((entry) => entry !== '');
      try {
        parseCidrList(entries.filter((entry) => !TRUST_PROXY_RANGE_NAMES.has(entry)));
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: `${(error as Error).message}. It takes "false", a hop count such as 1, or proxy addresses/CIDRs`,
        });
        return z.NEVER;
      }
      return entries;
    }),
);

const envFields = z.object({
  NODE_ENV: z.preprocess(
    emptyAsUndefined,
    z.enum(['development', 'production', 'test']).default('development'),
  ),
  LOG_LEVEL: z.preprocess(
    emptyAsUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  HOST: z.preprocess(emptyAsUndefined, z.string().default('127.0.0.1')),
  PORT: port(3000),
  PUBLIC_URL: url,
  SHUTDOWN_GRACE_MS: positiveInt(10_000),
  TRUST_PROXY: trustProxy,

  DATABASE_URL: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
  ),
  PGLITE_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('.data/pglite')),
  DB_MIGRATE_ON_START: booleanString(true),

  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.preprocess(emptyAsUndefined, z.string().default('default')),
  TEMPORAL_TASK_QUEUE: z.preprocess(emptyAsUndefined, z.string().default('hookflow')),
  TEMPORAL_UI_URL: z.preprocess(emptyAsUndefined, z.url().default('http://localhost:8233')),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_DEV_PORT: port(7233),
  TEMPORAL_DEV_UI_PORT: port(8233),
  TEMPORAL_DEV_DB_FILE: z.preprocess(emptyAsUndefined, z.string().default('.data/temporal.db')),
  TEMPORAL_DEV_SQLITE_SYNCHRONOUS: z.preprocess(
    emptyAsUndefined,
    z.enum(['normal', 'full']).default('normal'),
  ),
  TEMPORAL_WORKFLOW_BUNDLE: optionalString,
  SCHEDULE_RECONCILE_INTERVAL_MS: positiveInt(60_000),
  // A secured cluster (Temporal Cloud, or mTLS self-hosted): files are read and checked at start.
  TEMPORAL_TLS: booleanString(false),
  TEMPORAL_TLS_CA: pemFile,
  TEMPORAL_TLS_CERT: pemFile,
  TEMPORAL_TLS_KEY: pemFile,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  PAYLOAD_ENCRYPTION_KEYS: payloadKeys,
  PAYLOAD_CODEC_HOST: z.preprocess(emptyAsUndefined, z.string().default('127.0.0.1')),
  PAYLOAD_CODEC_PORT: port(8234),

  JWT_SECRET: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .superRefine((value, ctx) => {
        const problem = jwtSecretProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  ),
  JWT_EXPIRES_IN_SECONDS: positiveInt(3600),
  /** Who may sign up: `first-user` (the first account, then by the owner's invitation), `open`, `closed`. */
  REGISTRATION_MODE: z.preprocess(
    emptyAsUndefined,
    z.enum(['first-user', 'open', 'closed']).default('first-user'),
  ),

  SECRETS_ENCRYPTION_KEY: secretsKey,

  RESEND_API_KEY: optionalString,
  /** Unset: `resend` when RESEND_API_KEY is set, else `console` (refused in production unless chosen explicitly). */
  EMAIL_TRANSPORT: z.preprocess(emptyAsUndefined, z.enum(['resend', 'console']).optional()),
  RESEND_BASE_URL: url,
  EMAIL_FROM: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine(
        (value) => mailboxAddress(value) !== undefined,
        'must be an address like "you@your-domain.com" or "Your Name <you@your-domain.com>" (a name holding , ; : @ ( ) [ ] in double quotes)',
      )
      .default('Hookflow <hookflow@example.com>'),
  ),
  /**
   * The provider's rate limit, emails per second across all workers (Temporal enforces it on the task queue); 0 turns
   * it off: the provider's 429s are then retried after its retry-after, and a worker gets its email activities eagerly
   * (src/temporal/worker.ts).
   */
  EMAIL_MAX_PER_SECOND: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().nonnegative('must be a number ≥ 0 (emails per second; 0: no limit)').default(5),
  ),
  /** Recipients (to + cc + bcc) one account's email steps may send to per 24-hour window. */
  EMAIL_DAILY_QUOTA: positiveInt(1000),
  /** Domains a step's `from` may send from (comma or space separated); unset: the domain of EMAIL_FROM. */
  EMAIL_ALLOWED_FROM_DOMAINS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .transform((value, ctx) => {
        const domains = value
          .split(/[\s,]+/)
          .filter((entry) => entry !== '')
          .map((entry) => entry.toLowerCase());
        const bad = domains.filter((domain) => !DOMAIN_PATTERN.test(domain));
        if (domains.length === 0 || bad.length > 0) {
          ctx.addIssue({
            code: 'custom',
            message: `must list domain names such as example.com or mail.example.com${bad.length > 0 ? `, got ${bad.map((d) => JSON.stringify(d)).join(', ')}` : ''}`,
          });
          return z.NEVER;
        }
        return domains;
      })
      .optional(),
  ),

  /** CIDRs (comma or space separated) that http steps may reach although they are private or internal. */
  HTTP_ALLOWED_PRIVATE_NETWORKS: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .default('')
      .transform((value, ctx) => {
        try {
          parseCidrList(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
        return value.split(/[\s,]+/).filter((entry) => entry !== '');
      }),
  ),

  WEBHOOK_MAX_BODY_BYTES: positiveInt(256 * 1024),
  WEBHOOK_RATE_LIMIT_PER_MINUTE: positiveInt(600),
  /** Admission control (src/limits/backlog-admission.ts); 0, the default, admits whatever the backlog. */
  WEBHOOK_MAX_BACKLOG_SECONDS: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number()
      .int()
      .min(0)
      .max(86_400)
      .refine((seconds) => seconds === 0 || seconds >= 10, {
        message:
          'must be 0 (never refuse) or at least 10: Temporal renews the task-queue stats it is judged by every few seconds',
      })
      .default(0),
  ),
  MANUAL_RUNS_PER_MINUTE: positiveInt(30),
  WEBHOOK_ROTATION_GRACE_SECONDS: z.preprocess(
    emptyAsUndefined,
    z.coerce
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .default(86_400),
  ),
  API_MAX_BODY_BYTES: positiveInt(1024 * 1024),
  /** Run starts one API process has in flight to Temporal at once (src/limits/start-gate.ts); 0: no limit. */
  RUN_START_CONCURRENCY: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(0).max(10_000).default(4),
  ),
  LOGIN_RATE_LIMIT_PER_MINUTE: positiveInt(10),
  REGISTER_RATE_LIMIT_PER_MINUTE: positiveInt(10),

  /** Prometheus metrics: GET /metrics on the API, and the worker's own endpoint (src/metrics/). */
  METRICS_ENABLED: booleanString(true),
  /** When set, GET /metrics on the API (a public port) answers only `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .min(16, 'must be at least 16 characters: generate one with `openssl rand -hex 32`')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it travels in an HTTP header)')
      .optional(),
  ),
  WORKER_METRICS_HOST: z.preprocess(emptyAsUndefined, z.string().default('127.0.0.1')),
  // Not 0: the SDK's exporter would pick a port that nobody could learn, so nothing could scrape it.
  WORKER_METRICS_PORT: z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(1).max(65535).default(9464),
  ),
});

/** Rules across keys. `when`: reported together with the other bad keys, and not twice for one key. */
export const envSchema = envFields.check(
  // Production has no embedded default to fall back on, and a key made up at start-up would lose every secret on
  // the next restart.
  z.refine((env) => env.NODE_ENV !== 'production' || env.SECRETS_ENCRYPTION_KEY !== undefined, {
    path: ['SECRETS_ENCRYPTION_KEY'],
    message:
      'required when NODE_ENV=production: 32 random bytes as base64, generated once with `openssl rand -base64 32` ' +
      'and kept (secrets stored under one key cannot be read with another)',
    when: (payload) => !payload.issues.some((issue) => issue.path?.[0] === 'SECRETS_ENCRYPTION_KEY'),
  }),
  // In production the console transport "sends" by writing recipients and contents to the log, and every run
  // completes as if delivered: only an operator who asks for it gets it.
  z.refine(
    (env) =>
      env.NODE_ENV !== 'production' || env.EMAIL_TRANSPORT !== undefined || env.RESEND_API_KEY !== undefined,
    {
      path: ['RESEND_API_KEY'],
      message:
        'required when NODE_ENV=production, so that emails are delivered through Resend. To print them to the log ' +
        'instead (nothing is delivered; recipients and contents go to the log), set EMAIL_TRANSPORT=console',
      when: (payload) => !hasIssueFor(payload.issues, ['NODE_ENV', 'EMAIL_TRANSPORT', 'RESEND_API_KEY']),
    },
  ),
  // The default sender must be allowed itself, or every step without its own `from` would fail at send.
  z.refine(
    (env) =>
      env.EMAIL_ALLOWED_FROM_DOMAINS === undefined ||
      env.EMAIL_ALLOWED_FROM_DOMAINS.includes(senderDomain(env.EMAIL_FROM) ?? ''),
    {
      path: ['EMAIL_ALLOWED_FROM_DOMAINS'],
      message: 'must include the domain of EMAIL_FROM, the sender of every email step without its own from',
      when: (payload) => !hasIssueFor(payload.issues, ['EMAIL_FROM', 'EMAIL_ALLOWED_FROM_DOMAINS']),
    },
  ),
  z.refine((env) => (env.TEMPORAL_TLS_CERT === undefined) === (env.TEMPORAL_TLS_KEY === undefined), {
    path: ['TEMPORAL_TLS_CERT'],
    message:
      'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (the client certificate and its private key)',
    when: (payload) => !hasIssueFor(payload.issues, ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY']),
  }),
  // Without it, webhook bodies (personal data) sit in Temporal's history in the clear for anyone with database or
  // gRPC access, and a key made up at start-up would make every run unreadable after a restart.
  z.refine((env) => env.NODE_ENV !== 'production' || env.PAYLOAD_ENCRYPTION_KEYS !== undefined, {
    path: ['PAYLOAD_ENCRYPTION_KEYS'],
    message:
      'required when NODE_ENV=production, so that run data in Temporal is encrypted: k1:<32 random bytes as base64>, ' +
      'e.g. k1:$(openssl rand -base64 32), kept (runs encrypted under a key cannot be read without it)',
    when: (payload) => !hasIssueFor(payload.issues, ['PAYLOAD_ENCRYPTION_KEYS']),
  }),
  z.refine((env) => env.EMAIL_TRANSPORT !== 'resend' || env.RESEND_API_KEY !== undefined, {
    path: ['RESEND_API_KEY'],
    message: 'required with EMAIL_TRANSPORT=resend',
    when: (payload) => !hasIssueFor(payload.issues, ['EMAIL_TRANSPORT', 'RESEND_API_KEY']),
  }),
);

function hasIssueFor(issues: readonly { path?: readonly PropertyKey[] }[], keys: readonly string[]): boolean {
  return issues.some((issue) => keys.includes(issue.path?.[0] as string));
}

export type Env = z.input<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment once and groups it by concern. Throws ConfigError naming every bad key. */
export function loadConfig(env: Record<string, string | undefined> = process.env) {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    http: {
      host: e.HOST,
      port: e.PORT,
      publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
      shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
      /**
       * Who may set the client address through X-Forwarded-For (the per-IP limits key on it): false = nobody, a
       * number = that many proxies in front, a list = proxies at these addresses/CIDRs.
       */
      trustProxy: e.TRUST_PROXY,
    },
    db: {
      url: e.DATABASE_URL,
      pgliteDataDir: e.PGLITE_DATA_DIR,
      migrateOnStart: e.DB_MIGRATE_ON_START,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiUrl: e.TEMPORAL_UI_URL.replace(/\/+$/, ''),
      cliPath: e.TEMPORAL_CLI_PATH,
      devServer: {
        port: e.TEMPORAL_DEV_PORT,
        uiPort: e.TEMPORAL_DEV_UI_PORT,
        dbFile: e.TEMPORAL_DEV_DB_FILE,
        sqliteSynchronous: e.TEMPORAL_DEV_SQLITE_SYNCHRONOUS,
      },
      workflowBundlePath: e.TEMPORAL_WORKFLOW_BUNDLE,
      /** How Hookflow's clients and workers connect: plain on loopback, or TLS and/or an API key. */
      connection: temporalConnectionOptions(e),
      /**
       * Encrypts every payload Hookflow writes to Temporal (src/temporal/payload-codec.ts); undefined: plain.
       * The API also serves the codec endpoint the Temporal UI decodes through, on `codec`.
       */
      payloadKeys: e.PAYLOAD_ENCRYPTION_KEYS,
      codec: { host: e.PAYLOAD_CODEC_HOST, port: e.PAYLOAD_CODEC_PORT },
      /** How often each API process repairs Schedules that differ from the database (also once at start). */
      scheduleReconcileIntervalMs: e.SCHEDULE_RECONCILE_INTERVAL_MS,
    },
    auth: {
      jwtSecret: e.JWT_SECRET,
      jwtExpiresInSeconds: e.JWT_EXPIRES_IN_SECONDS,
      jwtIssuer: 'hookflow',
      jwtAudience: 'hookflow-api',
      registrationMode: e.REGISTRATION_MODE,
    },
    secrets: {
      /** Encrypts account secrets at rest (src/secrets/crypto.ts); required in production. */
      encryptionKey: e.SECRETS_ENCRYPTION_KEY
        ? ({ id: CURRENT_SECRETS_KEY_ID, key: e.SECRETS_ENCRYPTION_KEY } satisfies SecretsKey)
        : undefined,
    },
    email: {
      /** Explicit EMAIL_TRANSPORT, else Resend when it has a key; the schema refuses console in production by default. */
      transport: e.EMAIL_TRANSPORT ?? (e.RESEND_API_KEY !== undefined ? 'resend' : 'console'),
      resendApiKey: e.RESEND_API_KEY,
      resendBaseUrl: e.RESEND_BASE_URL,
      from: e.EMAIL_FROM,
      /** The domains a `from` may send from, lower-cased; checked on save and at send. */
      allowedFromDomains: e.EMAIL_ALLOWED_FROM_DOMAINS ?? [senderDomain(e.EMAIL_FROM) as string],
      maxPerSecond: e.EMAIL_MAX_PER_SECOND,
      dailyQuota: e.EMAIL_DAILY_QUOTA,
    },
    /** The http step (DESIGN §7). */
    httpStep: {
      /** Private or internal ranges opened to http steps; empty: every such destination is refused. */
      allowedPrivateNetworks: e.HTTP_ALLOWED_PRIVATE_NETWORKS,
    },
    webhooks: {
      maxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES,
      rateLimitPerMinute: e.WEBHOOK_RATE_LIMIT_PER_MINUTE,
      /** Refuse deliveries (503 + Retry-After) while a task has waited longer than this for a worker; 0: never. */
      maxBacklogSeconds: e.WEBHOOK_MAX_BACKLOG_SECONDS,
      /** How long a rotated-out token and signing secret keep working (0: they stop at once). */
      rotationGraceMs: e.WEBHOOK_ROTATION_GRACE_SECONDS * 1000,
    },
    /** Per-process limits (each API process counts on its own). */
    limits: {
      apiMaxBodyBytes: e.API_MAX_BODY_BYTES,
      loginPerMinute: e.LOGIN_RATE_LIMIT_PER_MINUTE,
      registerPerMinute: e.REGISTER_RATE_LIMIT_PER_MINUTE,
      /** Manual runs (POST /v1/workflows/:id/runs) per account per minute. */
      manualRunsPerMinute: e.MANUAL_RUNS_PER_MINUTE,
      /** Run starts in flight to Temporal at once; more wait their turn (at most half the start budget). 0: no limit. */
      runStartConcurrency: e.RUN_START_CONCURRENCY,
    },
    /** Prometheus metrics (src/metrics/): each API and worker process exposes its own. */
    metrics: {
      enabled: e.METRICS_ENABLED,
      /** Bearer token that GET /metrics on the API requires; unset: the endpoint is open (it holds no secrets). */
      token: e.METRICS_TOKEN,
      /** Where a worker process serves the Temporal SDK's metrics and step outcomes (`/metrics`). */
      worker: { host: e.WORKER_METRICS_HOST, port: e.WORKER_METRICS_PORT },
    },
  };
}

export type Config = ReturnType<typeof loadConfig>;

/** TLS is on when asked for, or implied by a CA, a client certificate or an API key (Temporal Cloud needs TLS). */
function temporalConnectionOptions(e: z.output<typeof envSchema>) {
  const tlsOn =
    e.TEMPORAL_TLS ||
    e.TEMPORAL_TLS_CA !== undefined ||
    e.TEMPORAL_TLS_CERT !== undefined ||
    e.TEMPORAL_API_KEY !== undefined;
  const tls = tlsOn
    ? {
        ...(e.TEMPORAL_TLS_SERVER_NAME && { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME }),
        ...(e.TEMPORAL_TLS_CA && { serverRootCACertificate: e.TEMPORAL_TLS_CA.contents }),
        ...(e.TEMPORAL_TLS_CERT &&
          e.TEMPORAL_TLS_KEY && {
            clientCertPair: { crt: e.TEMPORAL_TLS_CERT.contents, key: e.TEMPORAL_TLS_KEY.contents },
          }),
      }
    : undefined;
  return { tls, apiKey: e.TEMPORAL_API_KEY };
}

/** Narrows a config whose Temporal address is known (production entrypoints, or after the dev server started). */
export function requireSetting<T>(value: T | undefined, key: string, hint: string): T {
  if (value === undefined) throw new ConfigError([`${key}: required. ${hint}`]);
  return value;
}
