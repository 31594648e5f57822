import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { InvitationService } from '../services/invitation-service.js';
import { bearerAuth, errorResponses } from './common.js';

const invitationSchema = z.object({
  token: z.string().describe('Send it as "invitation" to POST /v1/auth/register; shown only this once'),
  expiresAt: z.string().describe('ISO 8601; the token no longer works after it'),
});

/** Sign-up invitations (REGISTRATION_MODE=first-user): created by the owner, used once by POST /v1/auth/register. */
export const invitationRoutes: FastifyPluginAsyncZod<{ invitations: InvitationService }> = (
  app,
  { invitations },
) => {
  app.addHook('onRequest', app.authenticate);

  app.post(
    '/invitations',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create a single-use sign-up invitation, valid for 7 days (owner only)',
        security: bearerAuth,
        response: { 201: invitationSchema, ...errorResponses(401, 403, 409) },
      },
    },
    async (request, reply) => reply.status(201).send(await invitations.create(request.user.sub)),
  );

  return Promise.resolve();
};
