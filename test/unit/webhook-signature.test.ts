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

  it('signs and verifies the raw bytes, which need not be UTF-8', () => {
    const bytes = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    const signature = signStandardWebhook(secret, 'msg_1', now, bytes);
    const headers = { id: 'msg_1', timestamp: String(now), signature };
    expect(verifyStandardWebhook(secret, headers, bytes, now)).toEqual({ ok: true });
    // Decoding first replaces each invalid byte with U+FFFD: a different message, a different signature.
    expect(verifyStandardWebhook(secret, headers, bytes.toString('utf8'), now).ok).toBe(false);
    // A string body is its UTF-8 bytes.
    expect(signStandardWebhook(secret, 'msg_1', now, Buffer.from(body))).toBe(
      signStandardWebhook(secret, 'msg_1', now, body),
    );
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
