import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { AuthService } from '../services/auth-service.js';
import type { RateLimiter } from '../../limits/rate-limiter.js';
import { errorResponseSchema } from './common.js';

/** Trimmed and lower-cased before the format check, so `" Ada@Example.com"` and `ada@example.com` are one account. */
const emailSchema = z.string().trim().toLowerCase().max(254).check(z.email());
const userSchema = z.object({ id: z.uuid(), email: z.string() });

const registerBodySchema = z.strictObject({
  email: emailSchema,
  // Length (8 to 256) is checked by the service, so a short one answers WEAK_PASSWORD rather than VALIDATION_FAILED.
  password: z.string().describe('8 to 256 characters'),
  invitation: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe(
      'With REGISTRATION_MODE=first-user, every account after the first needs one (POST /v1/invitations)',
    ),
});
const loginBodySchema = z.strictObject({ email: emailSchema, password: z.string().min(1) });

export const authRoutes: FastifyPluginAsyncZod<{
  auth: AuthService;
  /** Per client IP. */
  loginLimiter: RateLimiter;
  /** Per client IP: every registration costs an argon2 hash. */
  registerLimiter: RateLimiter;
  /** Lifetime of the access tokens the auth plugin signs (config.auth.jwtExpiresInSeconds). */
  expiresInSeconds: number;
}> = (app, { auth, loginLimiter, registerLimiter, expiresInSeconds }) => {
  app.post(
    '/auth/register',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account and get an access token',
        description:
          'As REGISTRATION_MODE allows: first-user (default) lets the first account in as the owner and later ones ' +
          'with an invitation; open lets anyone in; closed nobody (403).',
        body: registerBodySchema,
        response: {
          201: z.object({ user: userSchema, token: z.string() }),
          400: errorResponseSchema,
          403: errorResponseSchema,
          409: errorResponseSchema,
          429: errorResponseSchema,
        },
      },
    },
    async (request, reply) => {
      const limit = await registerLimiter.hit(`ip:${request.ip}`);
      if (!limit.allowed) {
        throw new AppError(
          'RATE_LIMITED',
          429,
          `Too many sign-ups from this address: try again in ${limit.retryAfterSeconds} seconds.`,
          [],
          {
            'retry-after': String(limit.retryAfterSeconds),
          },
        );
      }
      const user = await auth.register(request.body);
      return reply
        .status(201)
        .send({ user, token: app.issueAccessToken({ sub: user.id, email: user.email }) });
    },
  );

  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Exchange email and password for a Bearer access token',
        description:
          'Limited per client IP, and per email by an exponential backoff after failures that holds back only the ' +
          'clients that have been failing; over a limit it answers 429 with Retry-After.',
        body: loginBodySchema,
        response: {
          200: z.object({ token: z.string(), tokenType: z.literal('Bearer'), expiresIn: z.number().int() }),
          400: errorResponseSchema,
          401: errorResponseSchema,
          429: errorResponseSchema,
        },
      },
    },
    async (request) => {
      const { email, password } = request.body;
      // Every attempt counts against the client's address, which slows spraying many emails; guessing one email's
      // password is the per-account backoff's job (auth service).
      const byIp = await loginLimiter.hit(`ip:${request.ip}`);
      if (!byIp.allowed) {
        throw new AppError(
          'RATE_LIMITED',
          429,
          `Too many sign-in attempts from this address: try again in ${byIp.retryAfterSeconds} seconds.`,
          [],
          { 'retry-after': String(byIp.retryAfterSeconds) },
        );
      }
      const user = await auth.login(email, password, request.ip);
      return {
        token: app.issueAccessToken({ sub: user.id, email: user.email }),
        tokenType: 'Bearer' as const,
        expiresIn: expiresInSeconds,
      };
    },
  );

  app.get(
    '/me',
    {
      preHandler: (request, reply) => app.authenticate(request, reply),
      schema: {
        tags: ['auth'],
        summary: 'The signed-in user',
        security: [{ bearerAuth: [] }],
        response: { 200: userSchema, 401: errorResponseSchema },
      },
    },
    (request) => auth.me(request.user.sub),
  );

  return Promise.resolve();
};
