/**
 * The `channels` section of a policy: which services may publish, subscribe, request or reply on
 * each bus channel. The CAS lists the CURVE keys of a channel's attested instances with these roles
 * (`GET /v1/channels/NAME/keys`), and each bus socket admits only peers with the role it needs.
 *
 * ```yaml
 * channels:
 *   readings:
 *     publishers: [mdc]
 *     subscribers: [billing, fraud]
 *   scbr:
 *     members: [scbr-router, mdc, billing]   # every role
 * ```
 */
import type { Path, PolicyFields } from './policy-fields.ts';
import { didYouMean } from './policy-reader.ts';
import {
  CHANNEL_ROLES,
  type ChannelPolicy,
  type ChannelRole,
  type Policy,
  type ServicePolicy,
} from './policy-types.ts';

/** Channel names: also ZAP domains and URL path segments. */
export const CHANNEL_NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const LIST_KEYS = ['publishers', 'subscribers', 'requesters', 'repliers'] as const;
const CHANNEL_KEYS = [...LIST_KEYS, 'members'];

/** The `channels` section; `services` is the validated services section (lists must name its entries). */
export function readChannels(
  f: PolicyFields,
  value: unknown,
  services: Readonly<Record<string, ServicePolicy>>,
): Record<string, ChannelPolicy> {
  const path: Path = ['channels'];
  const obj = f.anyMap(path, value);
  const out: Record<string, ChannelPolicy> = {};
  const what =
    'lower-case letters, digits and "._-", 1..64 characters, starting and ending with a letter or digit';
  for (const name of f.names(path, obj, CHANNEL_NAME, what)) {
    out[name] = readChannel(f, [...path, name], obj[name], services);
  }
  return out;
}

function readChannel(
  f: PolicyFields,
  path: Path,
  value: unknown,
  services: Readonly<Record<string, ServicePolicy>>,
): ChannelPolicy {
  const obj = f.map(path, value, CHANNEL_KEYS);
  const read = (key: string): string[] =>
    f.optional(obj[key], [], (v) => serviceList(f, [...path, key], v, services));
  const members = read('members');
  const lists = Object.fromEntries(
    LIST_KEYS.map((key) => [key, [...new Set([...members, ...read(key)])]]),
  ) as Record<(typeof LIST_KEYS)[number], string[]>;
  if (LIST_KEYS.every((key) => lists[key].length === 0)) {
    f.fail(path, `a channel needs at least one service: list them under ${CHANNEL_KEYS.join(', ')}`);
  }
  return lists;
}

function serviceList(
  f: PolicyFields,
  path: Path,
  value: unknown,
  services: Readonly<Record<string, ServicePolicy>>,
): string[] {
  const out: string[] = [];
  for (const [i, item] of f.list(path, value).entries()) {
    const name = f.string([...path, i], item, { what: 'a service name', max: 63 });
    if (!Object.hasOwn(services, name)) {
      const hint = didYouMean(name, Object.keys(services));
      const suggestion = hint ? ` (did you mean "${hint}"?)` : '';
      f.fail([...path, i], `"${name}" is not a service of this policy${suggestion}`);
    }
    if (out.includes(name)) f.fail([...path, i], `"${name}" is listed twice`);
    out.push(name);
  }
  return out;
}

/** The roles `service` holds on `channel` under `policy` (empty when none, or no such channel). */
export function channelRolesOf(policy: Policy | null, channel: string, service: string): ChannelRole[] {
  const spec =
    policy !== null && Object.hasOwn(policy.channels, channel) ? policy.channels[channel] : undefined;
  if (spec === undefined) return [];
  const lists: Record<ChannelRole, readonly string[]> = {
    publisher: spec.publishers,
    subscriber: spec.subscribers,
    requester: spec.requesters,
    replier: spec.repliers,
  };
  return CHANNEL_ROLES.filter((role) => lists[role].includes(service));
}
