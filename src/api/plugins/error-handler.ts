import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isDatabaseUnavailable } from '../../db/errors.js';
import { AppError } from '../../errors.js';
import { formatIssues } from '../format-issues.js';

export interface ErrorBody {
  error: { code: string; message: string; details: unknown[] };
  requestId: string;
}

/**
 * The one place where errors become HTTP answers (DESIGN §3 shape): AppError → its status; request validation →
 * 400 with every issue; Fastify's own client errors (bad JSON, too large, wrong content type) → their 4xx;
 * anything else is a bug → a masked 500 whose request id leads to the logged stack.
 */
export const errorHandlerPlugin = fp(
  (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const send = (status: number, code: string, message: string, details: unknown[] = []) =>
        reply
          .status(status)
          .send({ error: { code, message, details }, requestId: request.id } satisfies ErrorBody);

      if (error instanceof AppError) {
        void reply.headers(error.headers);
        return send(error.statusCode, error.code, error.message, error.details);
      }
      if (hasZodFastifySchemaValidationErrors(error)) {
        const where = error.validationContext ?? 'body';
        const source =
          where === 'body'
            ? request.body
            : where === 'querystring'
              ? request.query
              : where === 'params'
                ? request.params
                : request.headers;
        // Reuse the DSL's formatter so a bad step is named by index and id: `body.steps[1] (id "wait").params`.
        const issues = error.validation.map((issue) => ({
          code: issue.keyword,
          message: issue.message ?? 'is invalid',
          path: issue.instancePath
            .split('/')
            .filter(Boolean)
            .map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment)),
        }));
        const details = formatIssues({ issues } as Parameters<typeof formatIssues>[0], source).map(
          (issue) => ({
            path: issue.path ? `${where}.${issue.path}`.replace('.[', '[') : where,
            message: issue.message,
          }),
        );
        const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
        return send(400, 'VALIDATION_FAILED', `The request is invalid: ${summary}`, details);
      }
      if (isDatabaseUnavailable(error)) {
        request.log.warn({ err: error }, 'database unavailable');
        void reply.header('retry-after', '5');
        return send(503, 'SERVICE_UNAVAILABLE', 'The database cannot be reached right now. Retry shortly.');
      }
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) {
        const code = clientErrorCodes[error.code] ?? 'BAD_REQUEST';
        if (status === 429 && reply.getHeader('retry-after') === undefined)
          void reply.header('retry-after', '60');
        return send(status, code, humanMessage(error));
      }
      request.log.error({ err: error }, 'unhandled error');
      return send(
        500,
        'INTERNAL_ERROR',
        `Something went wrong on our side; quote request id ${request.id} when reporting it.`,
      );
    });

    app.setNotFoundHandler((request, reply) =>
      reply.status(404).send({
        error: {
          code: 'ROUTE_NOT_FOUND',
          message: `No route ${request.method} ${request.url}. See /docs.`,
          details: [],
        },
        requestId: request.id,
      } satisfies ErrorBody),
    );
  },
  { name: 'error-handler' },
);

/**
 * Errors the router raises before any plugin runs (malformed URL encoding, a path parameter over the length
 * limit): Fastify's `frameworkErrors` option routes them here so they keep the same error shape.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  void reply.status(tooLong ? 414 : 400).send({
    error: {
      code: tooLong ? 'URI_TOO_LONG' : 'BAD_REQUEST',
      message: tooLong
        ? 'A path parameter is longer than any id or token this API issues.'
        : 'The URL is malformed.',
      details: [],
    },
    requestId: request.id,
  } satisfies ErrorBody);
}

const clientErrorCodes: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_JWT_NO_AUTHORIZATION_IN_HEADER: 'UNAUTHORIZED',
  FST_JWT_AUTHORIZATION_TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  FST_JWT_AUTHORIZATION_TOKEN_INVALID: 'UNAUTHORIZED',
  FST_JWT_AUTHORIZATION_TOKEN_UNTRUSTED: 'UNAUTHORIZED',
  FST_JWT_BAD_REQUEST: 'UNAUTHORIZED',
  FST_RATE_LIMITED: 'RATE_LIMITED',
};

function humanMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `The body is not valid JSON: ${error.message}`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The body is larger than this endpoint accepts.';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `${error.message}. Send application/json.`;
    default:
      return error.message;
  }
}
