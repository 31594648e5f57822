import type { Config } from '../config.js';
import { createEmailTransport, type EmailTransport } from './email-transport.js';
import { createSendEmail } from './send-email.js';

/**
 * All activities, built from injected dependencies. Their names (the object keys) are wire identifiers that
 * workflow histories refer to: renaming one is a breaking change.
 */
export function createActivities(deps: { config: Pick<Config, 'email'>; transport?: EmailTransport }) {
  const transport = deps.transport ?? createEmailTransport(deps.config.email);
  return {
    sendEmail: createSendEmail({ transport, defaultFrom: deps.config.email.from }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
