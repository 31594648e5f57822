import type { Config } from '../config.js';
import type { Db } from '../db/client.js';
import { createRateLimiter } from '../limits/rate-limiter.js';
import type { SecretResolver } from '../secrets/resolver.js';
import { ACTIVITY_NAMES } from '../workflows/names.js';
import { createEmailTransport, type EmailTransport } from './email-transport.js';
import { createHttpRequestActivity } from './http-request.js';
import { createHttpRequester, type HttpRequester } from './http/safe-request.js';
import { createSendEmail, type EmailQuota } from './send-email.js';

/** Sent as the user-agent of http steps unless a step sets its own. */
export const HTTP_USER_AGENT = 'Hookflow/0.1 (workflow http step)';

export interface ActivityDeps {
  config: Pick<Config, 'email' | 'httpStep'>;
  /** Decrypts the account secrets an http step names (the worker reads them from PostgreSQL). */
  secrets: Pick<SecretResolver, 'resolveSecrets'>;
  /** Each account's daily email allowance (emailQuotaFor: counted in the database, across workers). */
  emailQuota: EmailQuota;
  /** Default: the one config.email.transport names (EMAIL_TRANSPORT; Resend when RESEND_API_KEY is set). */
  transport?: EmailTransport;
  /** Default: an SSRF-guarded requester honouring HTTP_ALLOWED_PRIVATE_NETWORKS. */
  requester?: Pick<HttpRequester, 'request'>;
}

/**
 * All activities, built from injected dependencies: the registry of activities, one line per step type that has
 * one. Their names (ACTIVITY_NAMES) are wire identifiers that workflow histories refer to.
 */
export function createActivities(deps: ActivityDeps) {
  const transport = deps.transport ?? createEmailTransport(deps.config.email);
  const requester =
    deps.requester ??
    createHttpRequester({
      allowedPrivateNetworks: deps.config.httpStep.allowedPrivateNetworks,
      userAgent: HTTP_USER_AGENT,
    });
  return {
    [ACTIVITY_NAMES.sendEmail]: createSendEmail({
      transport,
      defaultFrom: deps.config.email.from,
      allowedFromDomains: deps.config.email.allowedFromDomains,
      quota: deps.emailQuota,
    }),
    [ACTIVITY_NAMES.httpRequest]: createHttpRequestActivity({ requester, secrets: deps.secrets }),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** EMAIL_DAILY_QUOTA counted in the API's database, so every worker charges the same window. */
export function emailQuotaFor(config: Pick<Config, 'email'>, db: Db): EmailQuota {
  const limit = config.email.dailyQuota;
  const limiter = createRateLimiter({
    db,
    name: 'email-recipients-per-day',
    limit,
    windowMs: 24 * 3_600_000,
  });
  return { limit, charge: (ownerId, recipients) => limiter.hit(ownerId, recipients) };
}
