/**
 * Policy documents: parsing and validation (YAML or JSON), the policy hash, and user lookups.
 * Validation is strict: unknown keys are errors (a typo must not silently weaken a policy), and
 * every error names the path inside the document and, when known, its line and column.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readChannels } from './policy-channels.ts';
import { PolicyFields } from './policy-fields.ts';
import { describeValue, readPolicySource } from './policy-reader.ts';
import { readSecrets, readServices } from './policy-sections.ts';
import { PERMISSIONS, type Permission, type Policy, type UserPolicy } from './policy-types.ts';

const TOP_KEYS = [
  'version',
  'name',
  'predecessor',
  'updateThreshold',
  'users',
  'roles',
  'services',
  'secrets',
  'channels',
];
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/;
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/** SPKI DER of each user's certificate key, per validated policy. */
const userKeys = new WeakMap<Policy, ReadonlyArray<readonly [string, Buffer]>>();

/**
 * Parses and validates a policy document. YAML unless `format` says `json` (or the text starts with `{`).
 * Fills in the defaults: platforms all, allowSimulation and allowDebug false, tcb.accept
 * [UpToDate, SWHardeningNeeded], advisories [], maxInstances 1, updateThreshold 1.
 *
 * @throws CasError `ERR_POLICY_INVALID` with `path` (e.g. `services.mdc.accept[1].minSvn`) and a message
 *   that says what is wrong, what was expected and where (line, column).
 * @example
 * const policy = parsePolicy(await readFile('policy.yaml', 'utf8'));
 */
export function parsePolicy(text: string, options: { format?: 'yaml' | 'json' } = {}): Policy {
  const f = new PolicyFields(readPolicySource(text, options.format));
  const top = f.map([], f.src.root, TOP_KEYS, ['version', 'name', 'users', 'roles']);
  if (top.version !== 1)
    f.fail(['version'], `expected 1 (the only policy format version), got ${describeValue(top.version)}`);
  const name = f.string(['name'], top.name, {
    what: 'a name (letters, digits, " ._-", up to 100)',
    pattern: NAME,
  });
  const predecessor = f.optional(top.predecessor ?? undefined, null, (v) => f.hex(['predecessor'], v, [64]));
  const roles = readRoles(f, top.roles);
  const { users, keys } = readUsers(f, top.users, Object.keys(roles));
  const secrets = f.optional(top.secrets, {}, (v) => readSecrets(f, v));
  const services = f.optional(top.services, {}, (v) => readServices(f, v, secrets));
  const channels = f.optional(top.channels, {}, (v) => readChannels(f, v, services));
  const updaters = Object.values(users).filter((u) =>
    u.roles.some((r) => roles[r]?.can.includes('update-policy')),
  );
  if (updaters.length === 0) {
    f.fail(
      ['users'],
      'no user has a role that can update-policy: the policy could never be applied or replaced',
    );
  }
  const updateThreshold = f.optional(top.updateThreshold, 1, (v) =>
    f.int(['updateThreshold'], v, 1, updaters.length),
  );
  const policy: Policy = deepFreeze({
    version: 1,
    name,
    predecessor,
    updateThreshold,
    users,
    roles,
    services,
    secrets,
    channels,
  });
  userKeys.set(policy, keys);
  return policy;
}

function readRoles(f: PolicyFields, value: unknown): Record<string, { can: Permission[] }> {
  const obj = f.anyMap(['roles'], value);
  const out: Record<string, { can: Permission[] }> = {};
  for (const role of f.names(['roles'], obj, USER_NAME, 'letters, digits and "_.@-"')) {
    const spec = f.map(['roles', role], obj[role], ['can'], ['can']);
    out[role] = { can: f.subset(['roles', role, 'can'], spec.can, PERMISSIONS) };
  }
  return out;
}

function readUsers(f: PolicyFields, value: unknown, roleNames: readonly string[]) {
  const obj = f.anyMap(['users'], value);
  const users: Record<string, UserPolicy> = {};
  const keys: Array<readonly [string, Buffer]> = [];
  for (const user of f.names(['users'], obj, USER_NAME, 'letters, digits and "_.@-"')) {
    const spec = f.map(['users', user], obj[user], ['certificate', 'roles'], ['certificate', 'roles']);
    const { pem, spki } = readCertificate(f, ['users', user, 'certificate'], spec.certificate);
    const same = keys.find(([, k]) => k.equals(spki));
    if (same)
      f.fail(
        ['users', user, 'certificate'],
        `has the same public key as user "${same[0]}"; each user needs its own key`,
      );
    keys.push([user, spki]);
    const roles = f.subset(['users', user, 'roles'], spec.roles, roleNames);
    users[user] = { certificate: pem, roles };
  }
  return { users, keys };
}

function readCertificate(
  f: PolicyFields,
  path: readonly string[],
  value: unknown,
): { pem: string; spki: Buffer } {
  const pem = f.string(path, value, { what: 'a PEM certificate', max: 16384 });
  const count = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (count !== 1)
    f.fail(path, `expected exactly one PEM certificate ("-----BEGIN CERTIFICATE-----"), found ${count}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    return f.fail(path, `the certificate does not parse (${(err as Error).message})`);
  }
  const key = cert.publicKey;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ed25519' && !(key.asymmetricKeyType === 'ec' && curve === 'prime256v1')) {
    const kind = curve ? `${key.asymmetricKeyType} ${curve}` : key.asymmetricKeyType;
    f.fail(
      path,
      `the certificate key is ${kind}; user keys are P-256 or Ed25519 (make one with "securecloud cas users keygen")`,
    );
  }
  return { pem, spki: key.export({ type: 'spki', format: 'der' }) };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** SHA-256 (lower-case hex) of the exact document bytes (UTF-8) as submitted: what `predecessor` names. */
export function policyHash(text: string): string {
  if (typeof text !== 'string') throw new TypeError('policyHash takes the policy text');
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Everything `user`'s roles allow (empty for an unknown user). */
export function permissionsOf(policy: Policy, user: string): ReadonlySet<Permission> {
  const out = new Set<Permission>();
  const spec = Object.hasOwn(policy.users, user) ? policy.users[user] : undefined;
  for (const role of spec?.roles ?? []) {
    for (const p of (Object.hasOwn(policy.roles, role) ? policy.roles[role]?.can : undefined) ?? [])
      out.add(p);
  }
  return out;
}

/** The user whose certificate's public key (SPKI DER) equals `spkiDer`, or null. */
export function findUserByPublicKey(policy: Policy, spkiDer: Uint8Array): string | null {
  let keys = userKeys.get(policy);
  if (keys === undefined) {
    keys = Object.entries(policy.users).map(
      ([name, u]) =>
        [name, new X509Certificate(u.certificate).publicKey.export({ type: 'spki', format: 'der' })] as const,
    );
    userKeys.set(policy, keys);
  }
  const wanted = Buffer.from(spkiDer.buffer, spkiDer.byteOffset, spkiDer.byteLength);
  return keys.find(([, k]) => k.equals(wanted))?.[0] ?? null;
}
