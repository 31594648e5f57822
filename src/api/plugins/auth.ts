import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
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
 * issuer, audience and expiry are checked on every request.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: { auth: Config['auth'] & { jwtSecret: string } }) => {
    const { auth } = options;
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
    });
  },
  { name: 'auth' },
);
