import { describe, expect, it } from 'vitest';
import { signStandardWebhook, verifyStandardWebhook } from '../../src/api/services/webhook-signature.js';

const secret = `whsec_${Buffer.from('a 32-byte key for the unit tests!').toString('base64')}`;
const now = 1_800_000_000;
const body = '{"event":"signup","email":"ada@example.com"}';

describe('verifyStandardWebhook', () => {
  it('accepts a valid signature and refuses any change to id, timestamp or body', () => {
    const signature = signStandardWebhook(secret, 'msg_1', now, body);
    expect(
      verifyStandardWebhook(secret, { id: 'msg_1', timestamp: String(now), signature }, body, now),
    ).toEqual({ ok: true });
    expect(
      verifyStandardWebhook(secret, { id: 'msg_2', timestamp: String(now), signature }, body, now).ok,
    ).toBe(false);
    expect(
      verifyStandardWebhook(secret, { id: 'msg_1', timestamp: String(now + 1), signature }, body, now).ok,
    ).toBe(false);
    expect(
      verifyStandardWebhook(secret, { id: 'msg_1', timestamp: String(now), signature }, `${body} `, now).ok,
    ).toBe(false);
  });

  it('matches the Standard Webhooks reference vector', () => {
    // From the Standard Webhooks specification's reference implementations.
    const reference = verifyStandardWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      {
        id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        timestamp: '1614265330',
        signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      },
      '{"test": 2432232314}',
      1614265330,
    );
    expect(reference).toEqual({ ok: true });
  });

  it('accepts any one of several signatures (secret rotation) and ignores other versions', () => {
    const good = signStandardWebhook(secret, 'msg_1', now, body);
    const header = `v1a,${good.slice(3)} v1,AAAA ${good}`;
    expect(
      verifyStandardWebhook(secret, { id: 'msg_1', timestamp: String(now), signature: header }, body, now).ok,
    ).toBe(true);
    expect(
      verifyStandardWebhook(
        secret,
        { id: 'msg_1', timestamp: String(now), signature: `v2,${good.slice(3)}` },
        body,
        now,
      ).ok,
    ).toBe(false);
  });

  it('refuses timestamps more than 5 minutes away, either way, and missing headers', () => {
    for (const offset of [-301, 301]) {
      const timestamp = now + offset;
      const signature = signStandardWebhook(secret, 'msg_1', timestamp, body);
      const result = verifyStandardWebhook(
        secret,
        { id: 'msg_1', timestamp: String(timestamp), signature },
        body,
        now,
      );
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toContain('5 minutes');
    }
    const withinTolerance = now - 299;
    const signature = signStandardWebhook(secret, 'msg_1', withinTolerance, body);
    expect(
      verifyStandardWebhook(secret, { id: 'msg_1', timestamp: String(withinTolerance), signature }, body, now)
        .ok,
    ).toBe(true);
    expect(verifyStandardWebhook(secret, { id: 'msg_1', signature }, body, now)).toMatchObject({ ok: false });
    expect(
      verifyStandardWebhook(secret, { id: 'msg_1', timestamp: 'yesterday', signature }, body, now),
    ).toMatchObject({ ok: false });
  });
});
