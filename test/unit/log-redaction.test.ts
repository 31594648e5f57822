import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/api/log-redaction.js';

describe('redactUrl', () => {
  it('replaces the webhook token, wherever the path goes on', () => {
    expect(redactUrl('/hooks/hk_secret123')).toBe('/hooks/[token]');
    expect(redactUrl('/hooks/hk_secret123/extra')).toBe('/hooks/[token]/extra');
  });

  it('keeps query parameter names and drops their values', () => {
    expect(redactUrl('/hooks/hk_secret123?token=hk_secret123&x=1')).toBe('/hooks/[token]?token=…&x=…');
    expect(redactUrl('/v1/runs?status=failed')).toBe('/v1/runs?status=…');
  });

  it('leaves other paths alone', () => {
    expect(redactUrl('/v1/workflows/3f1c')).toBe('/v1/workflows/3f1c');
    expect(redactUrl('/hooks')).toBe('/hooks');
  });
});
