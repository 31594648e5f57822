import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  parsePayloadKeys,
  PayloadDecryptionError,
} from '../../src/temporal/payload-codec.js';

const keyText = () => randomBytes(32).toString('base64');
const keysOf = (text: string) => {
  const parsed = parsePayloadKeys(text);
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed.keys;
};
const MARKER = 'marker-4f9c2d-personal-data';
const payload = defaultPayloadConverter.toPayload({ trigger: { body: { note: MARKER } } });
const text = (bytes: Uint8Array | null | undefined) =>
  Buffer.from(bytes ?? new Uint8Array()).toString('latin1');

describe('AesGcmPayloadCodec', () => {
  it('encrypts the whole payload: neither the data nor its encoding is readable, and it decodes back', async () => {
    const codec = new AesGcmPayloadCodec(keysOf(`k1:${keyText()}`));
    const [encoded] = await codec.encode([payload]);
    expect(text(encoded?.data)).not.toContain(MARKER);
    expect(text(encoded?.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encoded?.metadata?.['encryption-key-id'])).toBe('k1');
    expect(Object.keys(encoded?.metadata ?? {}).sort()).toEqual(['encoding', 'encryption-key-id']);
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ trigger: { body: { note: MARKER } } });
  });

  it('uses a fresh IV each time', async () => {
    const codec = new AesGcmPayloadCodec(keysOf(`k1:${keyText()}`));
    const [a, b] = await codec.encode([payload, payload]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('passes payloads written before encryption was on through unchanged', async () => {
    const codec = new AesGcmPayloadCodec(keysOf(`k1:${keyText()}`));
    expect(await codec.decode([payload])).toEqual([payload]);
  });

  it('rotates: the first key encrypts, the ones after it still decrypt', async () => {
    const [oldKey, newKey] = [keyText(), keyText()];
    const before = new AesGcmPayloadCodec(keysOf(`old:${oldKey}`));
    const after = new AesGcmPayloadCodec(keysOf(`new:${newKey},old:${oldKey}`));
    const [writtenBefore] = await before.encode([payload]);
    const [writtenAfter] = await after.encode([payload]);
    expect(text(writtenAfter?.metadata?.['encryption-key-id'])).toBe('new');
    const decoded = await after.decode([writtenBefore!, writtenAfter!]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
      { trigger: { body: { note: MARKER } } },
      { trigger: { body: { note: MARKER } } },
    ]);
  });

  it('refuses a payload under a key it does not have, or one that was tampered with', async () => {
    const codec = new AesGcmPayloadCodec(keysOf(`k1:${keyText()}`));
    const stranger = new AesGcmPayloadCodec(keysOf(`k2:${keyText()}`));
    const [encoded] = await codec.encode([payload]);
    await expect(stranger.decode([encoded!])).rejects.toThrow(
      /key "k1", which is not in PAYLOAD_ENCRYPTION_KEYS/,
    );
    const tampered = { ...encoded!, data: Buffer.from(encoded!.data!) };
    tampered.data[20] = tampered.data[20]! ^ 1;
    await expect(codec.decode([tampered])).rejects.toBeInstanceOf(PayloadDecryptionError);
    // Relabelling a payload with another key id fails too (the id is authenticated).
    const sameKey = keyText();
    const a = new AesGcmPayloadCodec(keysOf(`a:${sameKey},b:${sameKey}`));
    const [byA] = await a.encode([payload]);
    const relabelled = { ...byA!, metadata: { ...byA!.metadata, 'encryption-key-id': Buffer.from('b') } };
    await expect(a.decode([relabelled])).rejects.toThrow(/failed authentication/);
  });
});

describe('parsePayloadKeys', () => {
  it('reads id:key pairs, base64 or hex', () => {
    const keys = keysOf(`k1:${keyText()}, k0:${randomBytes(32).toString('hex')}`);
    expect(keys.map((key) => key.id)).toEqual(['k1', 'k0']);
  });

  it.each([
    ['', /expected id:key/],
    ['nokey', /entry 1: expected id:key/],
    [`k1:${randomBytes(16).toString('base64')}`, /key "k1": must decode to 32 bytes/],
    [`k1:${keyText()},k1:${keyText()}`, /key id "k1" appears twice/],
    [`bad id:${keyText()}`, /entry 1/],
  ])('refuses %j with a message naming the problem, not the key', (value, message) => {
    const parsed = parsePayloadKeys(value);
    expect('error' in parsed && parsed.error).toMatch(message);
    if ('error' in parsed) expect(parsed.error).not.toContain(value.split(':')[1] ?? '\u0000');
  });
});
