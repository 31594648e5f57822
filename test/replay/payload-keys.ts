/**
 * The payload key the replay recordings are encrypted with, and the replay test decrypts them with. A fixture, not a
 * secret: it protects nothing but these recordings. Deployed workers encrypt their histories (PAYLOAD_ENCRYPTION_KEYS
 * is required in production), so recordings made since then are encrypted as well, and the suite replays both kinds.
 */
export const REPLAY_PAYLOAD_KEYS = 'replay:cmVwbGF5LWZpeHR1cmUta2V5LW5vdC1hLXNlY3JldCE=';
