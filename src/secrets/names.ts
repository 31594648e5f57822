/*
 * The rules of account secrets (DESIGN §7), defined once. This file imports nothing, so the API, the worker and
 * workflow-side code (the DSL's `{{secrets.NAME}}` check) can all share it.
 */

/** A secret's name: an upper-case letter, then up to 63 upper-case letters, digits or underscores. */
export const SECRET_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/** The rule above in words, for error messages. */
export const SECRET_NAME_RULE =
  'an upper-case letter followed by up to 63 upper-case letters, digits or underscores, e.g. CRM_TOKEN';

/** Largest secret value, in UTF-8 bytes (8 KiB). */
export const SECRET_VALUE_MAX_BYTES = 8 * 1024;

/** How many secrets one account may hold. */
export const MAX_SECRETS_PER_ACCOUNT = 100;
