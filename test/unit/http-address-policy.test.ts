import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAddressPolicy, parseCidrList } from '../../src/activities/http/address-policy.js';

const policy = createAddressPolicy();

describe('address policy without an allow-list', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['fc00::1', 'unique-local'],
    ['fd00::1', 'unique-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.1', 'documentation'],
    ['203.0.113.1', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['2001::1', 'reserved'], // Teredo
    ['100::1', 'reserved'],
    ['1::1', 'reserved'], // outside 2000::/3
  ])('blocks %s as %s', (address, category) => {
    expect(policy.blockedCategory(address)).toBe(category);
  });

  it.each([
    // IPv4-mapped, in dotted and hex spelling
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
    ['::FFFF:A9FE:A9FE', 'link-local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:0.0.0.0', 'unspecified'],
    // IPv4-translated
    ['::ffff:0:a00:1', 'private'],
    // IPv4-compatible (deprecated: refused even around a public address)
    ['::127.0.0.1', 'loopback'],
    ['::a00:1', 'private'],
    ['::8.8.8.8', 'reserved'],
    // NAT64 well-known prefix
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b:1::1', 'reserved'],
    // 6to4
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
  ])('unwraps the IPv4 address embedded in %s (%s)', (address, category) => {
    expect(policy.blockedCategory(address)).toBe(category);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.215.14',
    '172.32.0.1', // just past 172.16/12
    '100.128.0.1', // just past 100.64/10
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
  ])('lets the public address %s through', (address) => {
    expect(policy.blockedCategory(address)).toBeUndefined();
  });

  it.each(['', 'localhost', '127.1', '2130706433', '[::1]', '1.2.3.4/32'])(
    'refuses %j, which is not an IP address',
    (input) => {
      expect(policy.blockedCategory(input)).toBe('invalid');
    },
  );
});

describe('address policy: every IPv6 wrapping of an IPv4 address gets the IPv4 verdict', () => {
  const hex = (hi: number, lo: number) => (((hi << 8) | lo) >>> 0).toString(16);

  it('holds for mapped (dotted and hex), translated, NAT64 and 6to4 forms of any IPv4 address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
        const expected = policy.blockedCategory(v4);
        for (const wrapped of [
          `::ffff:${v4}`,
          `::ffff:${hex(a, b)}:${hex(c, d)}`,
          `::ffff:0:${v4}`,
          `64:ff9b::${v4}`,
          `2002:${hex(a, b)}:${hex(c, d)}::1`,
        ]) {
          expect([wrapped, policy.blockedCategory(wrapped)]).toEqual([wrapped, expected]);
        }
      }),
    );
  });
});

describe('address policy with an allow-list', () => {
  it('opens exactly the listed IPv4 ranges, also when embedded in IPv6', () => {
    const allowing = createAddressPolicy('127.0.0.0/8, 10.1.0.0/16');
    expect(allowing.blockedCategory('127.0.0.1')).toBeUndefined();
    expect(allowing.blockedCategory('::ffff:127.0.0.1')).toBeUndefined();
    expect(allowing.blockedCategory('::ffff:7f00:1')).toBeUndefined();
    expect(allowing.blockedCategory('10.1.2.3')).toBeUndefined();
    expect(allowing.blockedCategory('10.2.0.1')).toBe('private');
    expect(allowing.blockedCategory('169.254.169.254')).toBe('link-local');
    // ::1 is IPv6 loopback, not 127.0.0.0/8
    expect(allowing.blockedCategory('::1')).toBe('loopback');
  });

  it('opens IPv6 ranges and single hosts', () => {
    const allowing = createAddressPolicy(['fd12:3456::/32', '::1', '192.168.1.10']);
    expect(allowing.blockedCategory('fd12:3456::1')).toBeUndefined();
    expect(allowing.blockedCategory('fd12:3457::1')).toBe('unique-local');
    expect(allowing.blockedCategory('::1')).toBeUndefined();
    expect(allowing.blockedCategory('192.168.1.10')).toBeUndefined();
    expect(allowing.blockedCategory('192.168.1.11')).toBe('private');
  });

  it('keeps the families apart: ::/0 does not open IPv4', () => {
    const allowing = createAddressPolicy('::/0');
    expect(allowing.blockedCategory('fe80::1')).toBeUndefined();
    expect(allowing.blockedCategory('127.0.0.1')).toBe('loopback');
  });
});

describe('parseCidrList', () => {
  it('accepts comma and whitespace separated entries, bare addresses meaning one host', () => {
    expect(parseCidrList(' 10.0.0.0/8,fd00::/8\n127.0.0.1 , ')).toEqual([
      { family: 'ipv4', network: '10.0.0.0', prefix: 8 },
      { family: 'ipv6', network: 'fd00::', prefix: 8 },
      { family: 'ipv4', network: '127.0.0.1', prefix: 32 },
    ]);
    expect(parseCidrList('')).toEqual([]);
    expect(parseCidrList(['::1'])).toEqual([{ family: 'ipv6', network: '::1', prefix: 128 }]);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/8x', '10.0.0/8', 'localhost', '10.0.0.0/-1'])(
    'rejects %j naming the entry',
    (entry) => {
      expect(() => parseCidrList(entry)).toThrow(entry);
    },
  );
});
