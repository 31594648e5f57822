import { mailboxAddress, parseTemplate } from '../workflows/template.js';

/*
 * Which domains Hookflow sends from (EMAIL_ALLOWED_FROM_DOMAINS, default: the domain of EMAIL_FROM). Any account can
 * write a `from`; without this, any account could send as anyone on any domain the provider account has verified, or
 * try to. Checked on save (a literal sender) by the API and at send by the sendEmail activity.
 */

/** A domain name as EMAIL_ALLOWED_FROM_DOMAINS lists it: labels of letters, digits and hyphens. */
export const DOMAIN_PATTERN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/;

/** The lower-cased domain of one sender (`hi@news.example.com`, `News <hi@news.example.com>`); undefined if none. */
export function senderDomain(from: string): string | undefined {
  const address = mailboxAddress(from.trim());
  return address?.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * The domain a `from` template always sends from, when its text fixes it: a template without placeholders, or one
 * whose `<address>` is literal (`{{trigger.body.team}} <news@example.com>`: a rendered display name cannot hold `<`
 * or `>`, so the address is that one). Undefined when a placeholder can change the domain; the send checks it then.
 */
export function literalSenderDomain(template: string): string | undefined {
  const parsed = parseTemplate(template);
  if (!parsed.ok) return undefined;
  if (parsed.parts.every((part) => typeof part === 'string')) return senderDomain(template);
  const address = /<([^<>]*)>\s*$/.exec(template)?.[1];
  if (address === undefined || address.includes('{{')) return undefined;
  return senderDomain(address);
}

/**
 * Why `from` may not be sent from, in words naming the allowed domains; undefined when its domain is one of them.
 * Domains match exactly (case-insensitively): a subdomain is its own entry.
 */
export function senderNotAllowed(from: string, allowedDomains: readonly string[]): string | undefined {
  const domain = senderDomain(from);
  const allowed = `allowed sender domains: ${allowedDomains.join(', ')} (EMAIL_ALLOWED_FROM_DOMAINS)`;
  if (domain === undefined) return `${JSON.stringify(from)} is not one sender address; ${allowed}`;
  if (allowedDomains.includes(domain)) return undefined;
  return `${JSON.stringify(from)} sends from ${domain}, which this Hookflow does not send from; ${allowed}`;
}
