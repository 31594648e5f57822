import type { Config } from '../config.js';
import { createEmailTransport, type EmailTransport } from './email-transport.js';
import { ACTIVITY_NAMES } from '../workflows/names.js';
import { createSendEmail } from './send-email.js';

/**
 * All activities, built from injected dependencies: the registry of activities, one line per step type that has
 * one. Their names (ACTIVITY_NAMES) are wire identifiers that workflow histories refer to.
 */
export function createActivities(deps: { config: Pick<Config, 'email'>; transport?: EmailTransport }) {
  const transport = deps.transport ?? createEmailTransport(deps.config.email);
  return {
    [ACTIVITY_NAMES.sendEmail]: createSendEmail({ transport, defaultFrom: deps.config.email.from }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
