import { sql } from 'drizzle-orm';
import {
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { Schedule } from '../dsl/schedule.js';
import type { Step } from '../dsl/schema.js';

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
};

/** `owner`: the first account, which invites the others (REGISTRATION_MODE=first-user); everybody else: `member`. */
export const userRoles = ['owner', 'member'] as const;
export type UserRole = (typeof userRoles)[number];

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Stored lower-cased; uniqueness is case-insensitive because of that. */
    email: text('email').notNull().unique(),
    passwordHash: text('password_hash').notNull(),
    role: text('role').$type<UserRole>().notNull().default('member'),
    ...timestamps,
  },
  // At most one owner, whatever the timing: of two concurrent first sign-ups, the second insert fails here.
  (table) => [
    uniqueIndex('users_single_owner_idx')
      .on(table.role)
      .where(sql`${table.role} = 'owner'`),
  ],
);

/**
 * Sign-up invitations the owner creates (POST /v1/invitations). Only the SHA-256 of the token is stored: the token is
 * shown once, to the owner, and a database dump cannot be used to sign up. Single use: `used_at` is set in the
 * transaction that creates the account.
 */
export const invitations = pgTable('invitations', {
  id: uuid('id').primaryKey().defaultRandom(),
  /** Hex SHA-256 of the token. */
  tokenHash: text('token_hash').notNull().unique(),
  createdBy: uuid('created_by')
    .notNull()
    .references(() => users.id, { onDelete: 'cascade' }),
  ...timestamps,
  expiresAt: timestamp('expires_at', { withTimezone: true, precision: 3 }).notNull(),
  usedAt: timestamp('used_at', { withTimezone: true, precision: 3 }),
  usedBy: uuid('used_by').references(() => users.id, { onDelete: 'set null' }),
});

/** Binary column; postgres.js reads it as a Buffer, PGlite as a Uint8Array: both come back as a Buffer. */
export const bytea = customType<{ data: Buffer; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
});

export const webhookSigningModes = ['none', 'standard-webhooks'] as const;
export type WebhookSigning = (typeof webhookSigningModes)[number];

/** The mutable head of a workflow: who owns it, its webhook, and which version is current. */
export const workflows = pgTable(
  'workflows',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    currentVersion: integer('current_version').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    webhookSigning: text('webhook_signing').$type<WebhookSigning>().notNull().default('none'),
    /**
     * The webhook token and signing secret are never stored in plaintext (src/secrets/webhook-credentials.ts): the
     * token is looked up by its keyed hash (hex HMAC-SHA256) and kept encrypted so the API can show the URL to its
     * owner; the secret is kept encrypted for verifying signatures. Both ciphertexts are bound to this row's id.
     */
    webhookTokenHash: text('webhook_token_hash').notNull().unique(),
    webhookTokenCiphertext: bytea('webhook_token_ciphertext').notNull(),
    webhookSecretCiphertext: bytea('webhook_secret_ciphertext'),
    /**
     * The token (its hash only: nothing shows it any more) and secret a rotation replaced, still accepted until
     * `previous_webhook_expires_at` so senders can switch without losing deliveries (WEBHOOK_ROTATION_GRACE_SECONDS);
     * null when there is none.
     */
    previousWebhookTokenHash: text('previous_webhook_token_hash').unique(),
    previousWebhookSecretCiphertext: bytea('previous_webhook_secret_ciphertext'),
    previousWebhookExpiresAt: timestamp('previous_webhook_expires_at', { withTimezone: true, precision: 3 }),
    ...timestamps,
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    /** Soft delete: runs keep naming their version, and the webhook stops accepting. */
    deletedAt: timestamp('deleted_at', { withTimezone: true, precision: 3 }),
  },
  (table) => [index('workflows_owner_created_idx').on(table.ownerId, table.createdAt, table.id)],
);

/** Every saved definition, immutable once written, so a run can always name the version it ran. */
export const workflowVersions = pgTable(
  'workflow_versions',
  {
    workflowId: uuid('workflow_id')
      .notNull()
      .references(() => workflows.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    steps: jsonb('steps').$type<Step[]>().notNull(),
    /** The clock trigger of this version; null: none. */
    schedule: jsonb('schedule').$type<Schedule>(),
    ...timestamps,
  },
  (table) => [primaryKey({ columns: [table.workflowId, table.version] })],
);

/**
 * Per-account secrets (DESIGN §7): write-only through the API, encrypted at rest. `ciphertext` is the blob of
 * src/secrets/crypto.ts (format and key id bytes, IV, AES-256-GCM ciphertext and tag), bound to owner and name.
 */
export const secrets = pgTable(
  'secrets',
  {
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    ciphertext: bytea('ciphertext').notNull(),
    ...timestamps,
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.ownerId, table.name] })],
);

/**
 * Rate-limit counters shared by every API process on this database, so a limit holds across replicas
 * (rate-limiter-flexible's Drizzle store owns the rows; the column names are the ones it expects). One row per
 * limited key and window: `points` used so far, the window ending at `expire`. Expired rows are deleted periodically.
 */
export const rateLimits = pgTable('rate_limits', {
  key: text('key').primaryKey(),
  points: integer('points').notNull().default(0),
  expire: timestamp('expire', { withTimezone: true, precision: 3 }),
});

/**
 * Failed sign-ins per account (login-backoff.ts), shared by every API process so the backoff holds across replicas.
 * `account` is the normalised email, known or not; a row untouched for 15 minutes is forgotten (and deleted).
 */
export const loginBackoff = pgTable('login_backoff', {
  account: text('account').primaryKey(),
  failures: integer('failures').notNull().default(0),
  /** A failing client's next attempt is checked from this time on. */
  nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, precision: 3 }).notNull(),
  touchedAt: timestamp('touched_at', { withTimezone: true, precision: 3 }).notNull(),
  /** Client keys (IPv4, IPv6 /64) that failed for this account, at most maxClientsPerAccount. */
  failingClients: text('failing_clients')
    .array()
    .notNull()
    .default(sql`'{}'::text[]`),
});

export const schema = {
  users,
  invitations,
  workflows,
  workflowVersions,
  secrets,
  rateLimits,
  loginBackoff,
};
