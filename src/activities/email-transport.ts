import { Resend } from 'resend';
import type { Config } from '../config.js';
import type { RenderedEmail } from '../workflows/template.js';

/** One email, already rendered and validated by the workflow. */
export type OutgoingEmail = RenderedEmail;

/** The provider's answer, reduced to what the retry classification needs. */
export type TransportResult =
  | { ok: true; id: string }
  | { ok: false; statusCode: number | null; name: string; message: string; retryAfterSeconds?: number };

export interface EmailTransport {
  name: 'resend' | 'console';
  /** `signal` aborts the request (the activity was cancelled, e.g. its worker's shutdown grace time ran out). */
  send(
    email: OutgoingEmail & { from: string },
    idempotencyKey: string,
    signal?: AbortSignal,
  ): Promise<TransportResult>;
}

/** Resend through its SDK; RESEND_BASE_URL (the SDK's own variable) points it elsewhere, e.g. at a test fake. */
export function createResendTransport(
  email: Pick<Config['email'], 'resendApiKey' | 'resendBaseUrl'>,
): EmailTransport {
  const resend = new Resend(
    email.resendApiKey,
    email.resendBaseUrl ? { baseUrl: email.resendBaseUrl } : undefined,
  );
  return {
    name: 'resend',
    async send(message, idempotencyKey, signal) {
      // emails.send never throws for an API error: it returns { error } and the raw response headers.
      const { data, error, headers } = await resend.emails.send(
        {
          from: message.from,
          to: message.to,
          subject: message.subject,
          ...(message.html !== undefined && { html: message.html }),
          ...(message.text !== undefined && { text: message.text }),
          ...(message.replyTo && { replyTo: message.replyTo }),
          ...(message.cc && { cc: message.cc }),
          ...(message.bcc && { bcc: message.bcc }),
        } as Parameters<typeof resend.emails.send>[0],
        // An aborted request ends at once, as a network error (or the signal's reason thrown); sendEmail tells why.
        { idempotencyKey, ...(signal && { signal }) },
      );
      if (data) return { ok: true, id: data.id };
      const retryAfter = Number(headers?.['retry-after']);
      return {
        ok: false,
        statusCode: error?.statusCode ?? null,
        name: error?.name ?? 'application_error',
        message: error?.message ?? 'the email provider returned neither data nor an error',
        ...(Number.isFinite(retryAfter) && retryAfter >= 0 && { retryAfterSeconds: retryAfter }),
      };
    },
  };
}

/**
 * The embedded default when no RESEND_API_KEY is set (outside production; there only with EMAIL_TRANSPORT=console):
 * every email is printed, loudly, instead of sent, so the whole product works on a fresh machine and nobody mistakes
 * it for delivery.
 */
export function createConsoleTransport(
  write: (text: string) => void = (text) => process.stdout.write(text),
): EmailTransport {
  return {
    name: 'console',
    send(message, idempotencyKey) {
      const bar = '='.repeat(72);
      const lines = [
        bar,
        'EMAIL NOT SENT (console transport: set RESEND_API_KEY to deliver through Resend)',
        `Idempotency-Key: ${idempotencyKey}`,
        `From: ${message.from}`,
        `To: ${message.to.join(', ')}`,
        ...(message.cc ? [`Cc: ${message.cc.join(', ')}`] : []),
        ...(message.bcc ? [`Bcc: ${message.bcc.join(', ')}`] : []),
        ...(message.replyTo ? [`Reply-To: ${message.replyTo.join(', ')}`] : []),
        `Subject: ${message.subject}`,
        ...(message.text !== undefined ? ['--- text ---', message.text] : []),
        ...(message.html !== undefined ? ['--- html ---', message.html] : []),
        bar,
      ];
      write(`${lines.join('\n')}\n`);
      return Promise.resolve({ ok: true, id: `console-${idempotencyKey}` });
    },
  };
}

/** The transport config chose (EMAIL_TRANSPORT, or by default Resend when it has a key, else the console). */
export function createEmailTransport(
  email: Pick<Config['email'], 'transport' | 'resendApiKey' | 'resendBaseUrl'>,
): EmailTransport {
  switch (email.transport) {
    case 'resend':
      // loadConfig refuses EMAIL_TRANSPORT=resend without a key; without one the SDK would read the environment.
      if (!email.resendApiKey) throw new Error('EMAIL_TRANSPORT=resend needs RESEND_API_KEY');
      return createResendTransport(email);
    case 'console':
      return createConsoleTransport();
    default: {
      const unknown: never = email.transport;
      throw new Error(`unknown email transport ${JSON.stringify(unknown)}`);
    }
  }
}
