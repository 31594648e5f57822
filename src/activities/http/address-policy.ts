import { BlockList, isIP, isIPv4 } from 'node:net';

/**
 * Which destinations the `http` step may connect to (DESIGN §7, "Destinations are checked"). Everything that is not
 * a public unicast address is refused unless `HTTP_ALLOWED_PRIVATE_NETWORKS` opens it: otherwise any workflow author
 * could reach the worker's loopback services, the cloud metadata endpoint or the private network behind it.
 */

/** Why an address is refused; stable identifiers, safe to show users (they never contain the address itself). */
export type BlockedCategory =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'unique-local'
  | 'site-local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'benchmarking'
  | 'documentation'
  | 'invalid';

/** Human wording for each category, used in error messages. */
export const BLOCKED_CATEGORY_LABELS: Readonly<Record<BlockedCategory, string>> = {
  unspecified: 'an unspecified ("this network") address',
  loopback: 'a loopback address',
  private: 'a private network address',
  shared: 'a carrier-grade NAT (shared) address',
  'link-local': 'a link-local address (this includes cloud metadata endpoints)',
  'unique-local': 'an IPv6 unique-local address',
  'site-local': 'an IPv6 site-local address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
  benchmarking: 'a benchmarking address',
  documentation: 'a documentation address',
  invalid: 'something that is not an IP address',
};

type Range = readonly [network: string, prefix: number];

/**
 * IPv4 special-purpose ranges (IANA registry). Order matters only for the label: the first match names the category,
 * so the broadcast /32 comes before the reserved 240/4 that contains it.
 */
const IPV4_BLOCKED: readonly (readonly [BlockedCategory, readonly Range[]])[] = [
  ['unspecified', [['0.0.0.0', 8]]],
  ['loopback', [['127.0.0.0', 8]]],
  [
    'private',
    [
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
    ],
  ],
  ['shared', [['100.64.0.0', 10]]],
  ['link-local', [['169.254.0.0', 16]]],
  ['broadcast', [['255.255.255.255', 32]]],
  ['multicast', [['224.0.0.0', 4]]],
  [
    'reserved',
    [
      ['240.0.0.0', 4],
      ['192.0.0.0', 24], // IETF protocol assignments
      ['192.88.99.0', 24], // deprecated 6to4 relay anycast
    ],
  ],
  ['benchmarking', [['198.18.0.0', 15]]],
  [
    'documentation',
    [
      ['192.0.2.0', 24],
      ['198.51.100.0', 24],
      ['203.0.113.0', 24],
    ],
  ],
];

/**
 * IPv6 special-purpose ranges that carry no IPv4 address. Prefixes that embed one (IPv4-mapped, -compatible,
 * -translated, NAT64, 6to4) are unwrapped by {@link embeddedIPv4} instead, so their verdict is the IPv4 one.
 */
const IPV6_BLOCKED: readonly (readonly [BlockedCategory, readonly Range[]])[] = [
  ['unspecified', [['::', 128]]],
  ['loopback', [['::1', 128]]],
  ['unique-local', [['fc00::', 7]]],
  ['link-local', [['fe80::', 10]]],
  ['site-local', [['fec0::', 10]]],
  ['multicast', [['ff00::', 8]]],
  ['benchmarking', [['2001:2::', 48]]],
  [
    'documentation',
    [
      ['2001:db8::', 32],
      ['3fff::', 20],
    ],
  ],
  [
    'reserved',
    [
      ['64:ff9b:1::', 48], // local-use NAT64: the embedded address sits at a deployment-specific offset
      ['100::', 64], // discard-only
      ['2001::', 32], // Teredo: tunnels to an (obfuscated) IPv4 client we cannot check
      ['2001:10::', 28], // ORCHID
      ['2001:20::', 28], // ORCHIDv2
      ['5f00::', 16], // SRv6 SIDs
    ],
  ],
];

/** Only 2000::/3 is allocated as global unicast; anything else that no rule above explains is refused. */
const IPV6_GLOBAL_UNICAST: Range = ['2000::', 3];

/** One BlockList per family and category: `BlockList.check` says whether, not which rule, matched. */
interface CategoryList {
  category: BlockedCategory;
  list: BlockList;
}

function buildLists(
  table: readonly (readonly [BlockedCategory, readonly Range[]])[],
  family: 'ipv4' | 'ipv6',
): CategoryList[] {
  return table.map(([category, ranges]) => {
    const list = new BlockList();
    for (const [network, prefix] of ranges) list.addSubnet(network, prefix, family);
    return { category, list };
  });
}

const ipv4Lists = buildLists(IPV4_BLOCKED, 'ipv4');
const ipv6Lists = buildLists(IPV6_BLOCKED, 'ipv6');
const globalUnicast = new BlockList();
globalUnicast.addSubnet(IPV6_GLOBAL_UNICAST[0], IPV6_GLOBAL_UNICAST[1], 'ipv6');

/** A network from `HTTP_ALLOWED_PRIVATE_NETWORKS`. */
export interface Cidr {
  family: 'ipv4' | 'ipv6';
  network: string;
  prefix: number;
}

/**
 * Parses a CIDR list such as `"10.0.0.0/8, fd00::/8 127.0.0.1"` (comma or whitespace separated; a bare address means a
 * single host). Throws a `TypeError` naming the first bad entry, so a typo in the environment stops start-up instead
 * of silently leaving a range closed (or open).
 */
export function parseCidrList(value: string | readonly string[]): Cidr[] {
  const entries = typeof value === 'string' ? value.split(/[\s,]+/) : value.map((entry) => entry.trim());
  return entries.filter((entry) => entry !== '').map(parseCidr);
}

function parseCidr(entry: string): Cidr {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version === 0) throw new TypeError(`"${entry}" is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)`);
  const max = version === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : entry.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
    throw new TypeError(`"${entry}" has an invalid prefix length (0-${max} for IPv${version})`);
  }
  return { family: version === 4 ? 'ipv4' : 'ipv6', network: address, prefix };
}

/** Decides, for one configuration, whether an address may be connected to. */
export interface AddressPolicy {
  /**
   * The reason `address` (as returned by `dns.lookup` or `net`, IPv6 without brackets, zone id allowed) must not be
   * connected to, or `undefined` when it may be. Anything that is not an IP address is refused as `invalid`.
   */
  blockedCategory(address: string): BlockedCategory | undefined;
}

/**
 * Builds the destination policy. `allowedPrivateNetworks` (CIDR strings, or the raw `HTTP_ALLOWED_PRIVATE_NETWORKS`
 * text; see {@link parseCidrList}) opens ranges that would otherwise be blocked. An address embedded in IPv6 is
 * matched against IPv4 entries, so allowing `127.0.0.0/8` also allows `::ffff:127.0.0.1`.
 */
export function createAddressPolicy(allowedPrivateNetworks: string | readonly string[] = []): AddressPolicy {
  // Separate lists per family: BlockList matches IPv4 addresses against some IPv6 rules (and back), which would
  // let an entry such as `::/0` open every IPv4 address as well.
  const allowed = { ipv4: new BlockList(), ipv6: new BlockList() };
  for (const { family, network, prefix } of parseCidrList(allowedPrivateNetworks)) {
    allowed[family].addSubnet(network, prefix, family);
  }

  const ipv4Category = (address: string) =>
    ipv4Lists.find(({ list }) => list.check(address, 'ipv4'))?.category;

  return {
    blockedCategory(input) {
      // A zone id (`fe80::1%eth0`) makes BlockList miss every rule: drop it, it does not change the address.
      const address = input.includes('%') ? input.slice(0, input.indexOf('%')) : input;
      const version = isIP(address);
      if (version === 4) return allowed.ipv4.check(address, 'ipv4') ? undefined : ipv4Category(address);
      if (version !== 6) return 'invalid';
      if (allowed.ipv6.check(address, 'ipv6')) return undefined;
      // `::` and `::1` are matched here, before the IPv4-compatible unwrapping would call them 0.0.0.0 and 0.0.0.1.
      const category = ipv6Lists.find(({ list }) => list.check(address, 'ipv6'))?.category;
      if (category !== undefined) return category;
      const embedded = embeddedIPv4(expandIPv6(address));
      if (embedded !== undefined) {
        if (allowed.ipv4.check(embedded.ipv4, 'ipv4')) return undefined;
        // IPv4-compatible addresses are deprecated (RFC 4291): refused even around a public address.
        return ipv4Category(embedded.ipv4) ?? (embedded.deprecated ? 'reserved' : undefined);
      }
      return globalUnicast.check(address, 'ipv6') ? undefined : 'reserved';
    },
  };
}

/**
 * The IPv4 address an IPv6 address stands for, when it embeds one that a router or the kernel would actually reach:
 * IPv4-mapped `::ffff:0:0/96`, IPv4-compatible `::/96`,
 * IPv4-translated `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96` and 6to4 `2002::/16`.
 */
function embeddedIPv4(groups: readonly number[]): { ipv4: string; deprecated: boolean } | undefined {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ipv4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeroUpTo64 = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0;
  if (zeroUpTo64 && g4 === 0 && g5 === 0xffff) return { ipv4: ipv4(g6, g7), deprecated: false }; // mapped
  if (zeroUpTo64 && g4 === 0xffff && g5 === 0) return { ipv4: ipv4(g6, g7), deprecated: false }; // translated
  if (zeroUpTo64 && g4 === 0 && g5 === 0) return { ipv4: ipv4(g6, g7), deprecated: true }; // compatible
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return { ipv4: ipv4(g6, g7), deprecated: false }; // NAT64 well-known prefix
  }
  if (g0 === 0x2002) return { ipv4: ipv4(g1, g2), deprecated: false }; // 6to4
  return undefined;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` compression and a dotted IPv4 tail resolved). */
function expandIPv6(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
