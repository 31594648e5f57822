import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import { isDatabaseUnavailable } from '../../db/errors.js';
import type { UserRepo } from '../../db/repos/user-repo.js';
import { AppError, UnauthorizedError } from '../../errors.js';

/** Claims of a Hookflow access token. `sub` is the user id. */
export interface AccessTokenClaims {
  sub: string;
  email: string;
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenClaims;
    user: AccessTokenClaims;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for routes that need a signed-in user; sets request.user. */
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** Signs an access token for a user. */
    issueAccessToken: (claims: AccessTokenClaims) => string;
  }
}

/**
 * Bearer JWT auth. The algorithm is pinned (HS256) on both sides, so `alg: none` or an RS/HS confusion is refused;
 * issuer, audience and expiry are checked on every request, and so is that the account still exists (a token
 * outlives a deleted account by up to its lifetime).
 */
export const authPlugin = fp(
  async (
    app: FastifyInstance,
    options: { auth: Config['auth'] & { jwtSecret: string }; users: Pick<UserRepo, 'exists'> },
  ) => {
    const { auth, users } = options;
    await app.register(jwt, {
      secret: auth.jwtSecret,
      sign: {
        algorithm: 'HS256',
        iss: auth.jwtIssuer,
        aud: auth.jwtAudience,
        expiresIn: auth.jwtExpiresInSeconds,
      },
      verify: {
        algorithms: ['HS256'],
        allowedIss: auth.jwtIssuer,
        allowedAud: auth.jwtAudience,
        requiredClaims: ['sub', 'exp', 'iss', 'aud'],
      },
    });

    app.decorate('issueAccessToken', (claims: AccessTokenClaims) => app.jwt.sign(claims));
    app.decorate('authenticate', async (request: FastifyRequest) => {
      if (!request.headers.authorization) throw new UnauthorizedError();
      try {
        await request.jwtVerify();
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED') {
          throw new AppError(
            'TOKEN_EXPIRED',
            401,
            'The access token has expired: sign in again with POST /v1/auth/login.',
          );
        }
        if (code === 'FST_JWT_BAD_REQUEST') {
          throw new UnauthorizedError('The Authorization header must be "Bearer <token>".');
        }
        throw new UnauthorizedError('The access token is invalid: sign in again with POST /v1/auth/login.');
      }
      let exists: boolean;
      try {
        exists = await users.exists(request.user.sub);
      } catch (error) {
        // PostgreSQL is down: the signature already proved the token, and what needs the database answers 503 on its
        // own, while what only needs Temporal (reading runs) keeps working through the outage.
        if (!isDatabaseUnavailable(error)) throw error;
        request.log.warn({ err: error }, 'account check skipped: database unavailable');
        return;
      }
      if (!exists) {
        throw new UnauthorizedError(
          'The account this access token was issued for no longer exists: register again with POST /v1/auth/register.',
        );
      }
    });
  },
  { name: 'auth' },
);
