import { ApplicationFailure, Context } from '@temporalio/activity';
import { senderNotAllowed } from '../email/sender-domains.js';
import type { RateLimitResult } from '../limits/rate-limiter.js';
import type { SendEmailResult } from '../workflows/types.js';
import type { EmailTransport, OutgoingEmail, TransportResult } from './email-transport.js';
import { keepHeartbeating } from './heartbeat.js';

export interface SendEmailInput {
  /** Run id + step id: the provider drops a repeated send with the same key for 24 h. */
  idempotencyKey: string;
  email: OutgoingEmail;
  /**
   * The run's account, whose daily quota the send is charged to. Absent from sends scheduled by a build before the
   * quota (runs in flight across the upgrade): those are not charged.
   */
  ownerId?: string;
}

/** Each account's allowance of recipients per day (EMAIL_DAILY_QUOTA), shared by every worker. */
export interface EmailQuota {
  /** Recipients per window. */
  readonly limit: number;
  /** Charges `recipients` to `ownerId`'s window; refused when that would pass the limit. */
  charge(ownerId: string, recipients: number): Promise<RateLimitResult>;
}

/** Error types of the failures the activity throws; the run's step error carries them. */
export const EMAIL_ERROR_TYPES = {
  rejected: 'EmailRejected',
  rateLimited: 'EmailRateLimited',
  /** The account's daily or monthly sending quota is used up: retrying within the hour cannot help. */
  quotaExceeded: 'EmailQuotaExceeded',
  /** This account's EMAIL_DAILY_QUOTA is used up: Hookflow's own limit, nothing reached the provider. */
  accountQuotaExceeded: 'EmailAccountQuotaExceeded',
  /** The provider refused Hookflow's API key (rotated or revoked): retried slowly while an operator fixes it. */
  providerAuth: 'EmailProviderAuthFailed',
  unavailable: 'EmailProviderUnavailable',
  interrupted: 'EmailSendInterrupted',
  /** The rendered `from` is not on a domain of EMAIL_ALLOWED_FROM_DOMAINS: permanent, nothing was sent. */
  senderNotAllowed: 'EmailSenderNotAllowed',
} as const;

/**
 * Resend's answers to a key it does not accept. They say nothing about the email: a rotated or revoked key is an
 * operator's fix, so sends wait for it (up to the step's attempts) instead of failing every run in flight for good.
 */
const CREDENTIAL_ERRORS = new Set(['missing_api_key', 'invalid_api_key', 'restricted_api_key']);
/** Waits between attempts after a credential error: 1 min, doubling, at most 15 min (the default 8 attempts: ~1 h). */
const CREDENTIAL_RETRY_BASE_MS = 60_000;
const CREDENTIAL_RETRY_MAX_MS = 15 * 60_000;

/** Quota errors Resend answers with 429: not a rate limit, the account's allowance for the day or month is gone. */
const QUOTA_ERRORS = new Set(['daily_quota_exceeded', 'monthly_quota_exceeded']);
/**
 * The longest provider `retry-after` honoured. Longer ones fall back to the step's own backoff: every retry must
 * stay inside the provider's 24 h idempotency window (the activity's schedule-to-close timeout ends it anyway).
 */
export const MAX_PROVIDER_RETRY_AFTER_SECONDS = 15 * 60;

export function createSendEmail(deps: {
  transport: EmailTransport;
  defaultFrom: string;
  /** EMAIL_ALLOWED_FROM_DOMAINS: a `from` on another domain is refused before anything is sent. */
  allowedFromDomains: readonly string[];
  quota: EmailQuota;
}) {
  /**
   * Sends one email. A `from` outside the allowed domains fails for good (EmailSenderNotAllowed): the step's own
   * `from` can come from a placeholder, so the domain is only known here. Classification of the provider's answer
   * decides Temporal's retries:
   * 429 → retry after the provider's retry-after (up to 15 min), except a used-up daily or monthly quota → fail for
   * good; other 4xx (validation, auth) → fail for good; 5xx and network
   * errors → retry with the step's backoff.
   */
  return async function sendEmail(input: SendEmailInput): Promise<SendEmailResult> {
    const { info, cancellationSignal, log } = Context.current();
    const { attempt } = info;
    const email = { ...input.email, from: input.email.from ?? deps.defaultFrom };
    const refused = senderNotAllowed(email.from, deps.allowedFromDomains);
    if (refused) {
      throw ApplicationFailure.create({
        type: EMAIL_ERROR_TYPES.senderNotAllowed,
        message: `from: ${refused}`,
        details: [{ attempt, statusCode: null, providerError: null }],
        nonRetryable: true,
      });
    }
    // Charged once per send, on its first attempt: the provider's own retries of it are the same email. A send the
    // quota refuses fails for good; retrying the run once the window renews sends it.
    if (input.ownerId !== undefined && attempt === 1) {
      const recipients = email.to.length + (email.cc?.length ?? 0) + (email.bcc?.length ?? 0);
      const charged = await deps.quota.charge(input.ownerId, recipients);
      if (!charged.allowed) {
        throw ApplicationFailure.create({
          type: EMAIL_ERROR_TYPES.accountQuotaExceeded,
          message:
            `this account's email quota is used up (${deps.quota.limit} recipients a day, EMAIL_DAILY_QUOTA): ` +
            `nothing was sent to these ${recipients}; it renews in ${renewsIn(charged.retryAfterSeconds)}, then retry the run`,
          details: [{ attempt, statusCode: null, providerError: null }],
          nonRetryable: true,
        });
      }
    }
    // Cancellation (the worker's shutdown grace time ran out, say) aborts the request: the attempt fails now and is
    // retried at once on another worker, instead of after its start-to-close timeout. The idempotency key makes the
    // retry safe even if the provider did receive the interrupted request.
    let result: TransportResult;
    const stopHeartbeats = keepHeartbeating();
    try {
      result = await deps.transport.send(email, input.idempotencyKey, cancellationSignal);
    } catch (error) {
      if (!cancellationSignal.aborted) throw error;
      throw interrupted(cancellationSignal, attempt);
    } finally {
      stopHeartbeats();
    }
    if (result.ok) {
      return { providerId: result.id, transport: deps.transport.name, to: email.to, attempt };
    }
    if (cancellationSignal.aborted) throw interrupted(cancellationSignal, attempt);
    const details = [{ attempt, statusCode: result.statusCode, providerError: result.name }];
    const what = `the email provider answered ${result.statusCode ?? 'nothing (network error)'} ${result.name}: ${result.message}`;
    if (CREDENTIAL_ERRORS.has(result.name) || result.statusCode === 401) {
      const delay = Math.min(CREDENTIAL_RETRY_BASE_MS * 2 ** (attempt - 1), CREDENTIAL_RETRY_MAX_MS);
      // Loud: every send of every run is failing until RESEND_API_KEY is fixed.
      log.error('the email provider refused the API key: set a valid RESEND_API_KEY on the workers', {
        statusCode: result.statusCode,
        providerError: result.name,
        attempt,
        nextAttemptInMs: delay,
      });
      throw ApplicationFailure.create({
        type: EMAIL_ERROR_TYPES.providerAuth,
        message: `${what} (the API key was refused: fix RESEND_API_KEY; this send is retried in ${Math.round(delay / 1000)} s)`,
        details,
        nextRetryDelay: delay,
      });
    }
    if (QUOTA_ERRORS.has(result.name)) {
      throw ApplicationFailure.create({
        type: EMAIL_ERROR_TYPES.quotaExceeded,
        message: `${what} (raise the plan's quota, then retry the run)`,
        details,
        nonRetryable: true,
      });
    }
    if (result.statusCode === 429 || result.name === 'rate_limit_exceeded') {
      const retryAfter = result.retryAfterSeconds;
      throw ApplicationFailure.create({
        type: EMAIL_ERROR_TYPES.rateLimited,
        message: what,
        details,
        ...(retryAfter !== undefined &&
          retryAfter <= MAX_PROVIDER_RETRY_AFTER_SECONDS && { nextRetryDelay: retryAfter * 1000 }),
      });
    }
    // The same key still in flight at the provider (our earlier attempt died mid-request): ask again later.
    if (result.name === 'concurrent_idempotent_requests') {
      throw ApplicationFailure.create({ type: EMAIL_ERROR_TYPES.unavailable, message: what, details });
    }
    if (result.statusCode !== null && result.statusCode >= 400 && result.statusCode < 500) {
      throw ApplicationFailure.create({
        type: EMAIL_ERROR_TYPES.rejected,
        message: what,
        details,
        nonRetryable: true,
      });
    }
    throw ApplicationFailure.create({ type: EMAIL_ERROR_TYPES.unavailable, message: what, details });
  };
}

/** "5 h 20 min", "12 min": when a quota window renews, as a person reads it. */
function renewsIn(seconds: number): string {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  const hours = Math.floor(minutes / 60);
  return hours > 0 ? `${hours} h ${minutes % 60} min` : `${minutes} min`;
}

/** A retryable failure for a send cut short by the activity's cancellation (e.g. `WORKER_SHUTDOWN`). */
function interrupted(signal: AbortSignal, attempt: number): ApplicationFailure {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : String(reason);
  return ApplicationFailure.create({
    type: EMAIL_ERROR_TYPES.interrupted,
    message: `the send was interrupted (${why}) before the provider answered; the retry uses the same idempotency key`,
    details: [{ attempt, statusCode: null, providerError: null }],
  });
}
