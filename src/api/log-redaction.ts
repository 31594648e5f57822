import type { FastifyRequest } from 'fastify';

/*
 * What the API's request logs may show. A webhook URL is a credential (whoever knows it can start runs), so the
 * token in /hooks/<token> never reaches a log line, and neither does any query string (a sender may repeat the token
 * there, or put its own secrets in it). Bearer tokens and signing secrets travel in headers and bodies, which the
 * request serializer below never logs.
 */

const WEBHOOK_PATH = /^(\/hooks\/)[^/?#]+/;

/** The URL as logs show it: the webhook token replaced, the query string reduced to its parameter names. */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const redactedPath = path.replace(WEBHOOK_PATH, '$1[token]');
  if (queryStart === -1) return redactedPath;
  const names = [...new URLSearchParams(url.slice(queryStart + 1)).keys()];
  return `${redactedPath}?${names.map((name) => `${name}=…`).join('&')}`;
}

/** Fastify's default request serializer, with the URL redacted. */
export const requestLogSerializers = {
  req(request: FastifyRequest) {
    return {
      method: request.method,
      url: redactUrl(request.url),
      host: request.host,
      remoteAddress: request.ip,
      remotePort: request.socket?.remotePort,
    };
  },
};
