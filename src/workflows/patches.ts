/*
 * patched() ids: each guards one change to the commands the interpreter emits, so runs started by an older build
 * replay their recorded path and take the new one only from the point where they run live (DESIGN §8). Never
 * rename or reuse an id; remove one (with deprecatePatch first) only when no run that predates it can be open.
 */
export const PATCHES = {
  /**
   * Email activities heartbeat (worker death noticed in seconds), are bounded by a schedule-to-close timeout
   * inside the provider's 24 h idempotency window, and rendered emails are capped in size.
   */
  emailActivityV2: 'email-activity-v2',
  /**
   * Rendering refuses what a hostile webhook value could abuse (issue 11): a recipient placeholder renders exactly one
   * address (lists only from the definition or an array value), a value starting a URL attribute in html must be an
   * http(s) or mailto URL (else `#`), and header fields (email headers, http step header values) refuse every control
   * character and U+2028/U+2029, not only CR/LF.
   */
  renderHardening: 'render-hardening',
} as const;
