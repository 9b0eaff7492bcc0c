/** Who may do what: users by their TLS client key and roles, instances by their CAS certificate. */
import type { X509Certificate } from 'node:crypto';
import { serviceIdentityOf } from './ca.ts';
import { CasError } from './errors.ts';
import { findUserByPublicKey, permissionsOf } from './policy.ts';
import type { Permission, Policy, SecretSpec } from './policy-types.ts';

/**
 * The user of `policy` whose certificate key is `caller` (SPKI DER), if its roles allow
 * `permission` (null: any user). Throws ERR_UNAUTHORIZED or ERR_FORBIDDEN.
 */
export function authorizeUser(
  policy: Policy | null,
  caller: Uint8Array | null,
  permission: Permission | null,
): string {
  if (policy === null)
    throw new CasError('ERR_UNAUTHORIZED', 'no policy is in force, so there are no users yet');
  if (caller === null) {
    throw new CasError(
      'ERR_UNAUTHORIZED',
      'this request needs a user certificate (mutual TLS): pass --as KEY.pem with a key listed in the policy',
    );
  }
  const user = findUserByPublicKey(policy, caller);
  if (user === null) {
    throw new CasError(
      'ERR_UNAUTHORIZED',
      `the client certificate is not one of the users of policy "${policy.name}"`,
    );
  }
  if (permission !== null && !permissionsOf(policy, user).has(permission)) {
    throw new CasError('ERR_FORBIDDEN', `user "${user}" has no role that allows ${permission}`);
  }
  return user;
}

/** The spec of secret `name` in `policy`, or ERR_SECRET_UNKNOWN. */
export function secretSpecOf(policy: Policy | null, name: string): SecretSpec {
  const secrets = policy?.secrets ?? {};
  const spec = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
  if (spec === undefined)
    throw new CasError('ERR_SECRET_UNKNOWN', `the policy in force has no secret "${name}"`);
  return spec;
}

/**
 * The service of the instance whose certificate `certificate` is: it must be issued by `root`,
 * valid at `now`, and name `instanceId`. Throws ERR_UNAUTHORIZED or ERR_FORBIDDEN.
 */
export function instanceServiceOf(
  certificate: X509Certificate | null,
  root: X509Certificate,
  now: number,
  instanceId: string,
): string {
  const identity = instanceIdentityOf(certificate, root, now);
  if (identity.instanceId !== instanceId) {
    throw new CasError(
      'ERR_FORBIDDEN',
      `the certificate is for instance ${identity.instanceId}, not ${instanceId}`,
    );
  }
  return identity.service;
}

/**
 * The service and instance of a CAS-issued instance certificate: it must be issued by `root` and
 * valid at `now`. Throws ERR_UNAUTHORIZED.
 */
export function instanceIdentityOf(
  certificate: X509Certificate | null,
  root: X509Certificate,
  now: number,
): { service: string; instanceId: string } {
  if (certificate === null)
    throw new CasError('ERR_UNAUTHORIZED', 'present the instance certificate the CAS issued (mutual TLS)');
  const valid =
    certificate.checkIssued(root) &&
    certificate.verify(root.publicKey) &&
    Date.parse(certificate.validFrom) <= now &&
    now <= Date.parse(certificate.validTo);
  const identity = valid ? serviceIdentityOf(certificate) : null;
  if (identity === null)
    throw new CasError(
      'ERR_UNAUTHORIZED',
      'the client certificate is not a valid CAS-issued instance certificate',
    );
  return identity;
}
