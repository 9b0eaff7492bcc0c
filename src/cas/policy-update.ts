/**
 * The rules of a policy update: the predecessor chain, the signatures of distinct `update-policy`
 * users (of the policy in force, or of the new policy itself for the first one), reserved names,
 * and which secrets are kept or generated.
 */
import type { CasCa } from './ca.ts';
import { CasError } from './errors.ts';
import { parsePolicy, permissionsOf, policyHash } from './policy.ts';
import type { Policy } from './policy-types.ts';
import { CAS_TLS_NAME, type PolicySignature } from './protocol.ts';
import { generateSecret, type SecretValue, sameSecretSpec } from './secrets.ts';
import { verifyPolicySignature } from './user-keys.ts';

/** Most signatures accepted with one update. */
export const MAX_SIGNATURES = 64;

/** A checked update, ready to apply. */
export interface CheckedUpdate {
  readonly policy: Policy;
  readonly hash: string;
  /** Distinct users whose valid signatures authorized the update. */
  readonly signers: readonly string[];
}

/**
 * Validates `text` as the successor of `inForce` (null: no policy yet) and checks its signatures.
 * Throws CasError ERR_POLICY_INVALID, ERR_POLICY_PREDECESSOR or ERR_POLICY_SIGNATURE.
 */
export function checkPolicyUpdate(
  inForce: { readonly policy: Policy; readonly hash: string } | null,
  text: string,
  signatures: readonly PolicySignature[],
): CheckedUpdate {
  const policy = parsePolicy(text);
  const hash = policyHash(text);
  checkReservedNames(policy);
  if (inForce === null && policy.predecessor !== null) {
    throw new CasError(
      'ERR_POLICY_PREDECESSOR',
      `no policy is in force yet, so the first policy must have predecessor: null (it names ${policy.predecessor})`,
      { path: 'predecessor' },
    );
  }
  if (inForce !== null && policy.predecessor !== inForce.hash) {
    throw new CasError(
      'ERR_POLICY_PREDECESSOR',
      `predecessor is ${policy.predecessor ?? 'null'} but the policy in force ("${inForce.policy.name}") has hash ${inForce.hash}; ` +
        `set predecessor: "${inForce.hash}" (fetch the policy in force with \`securecloud cas policy show\` and edit that)`,
      { path: 'predecessor' },
    );
  }
  const authority = inForce?.policy ?? policy;
  const signers = checkSignatures(authority, text, signatures, inForce === null);
  if (signers.length < authority.updateThreshold) {
    const whose = inForce === null ? 'this first policy' : 'the policy in force';
    throw new CasError(
      'ERR_POLICY_SIGNATURE',
      signers.length === 0
        ? `the update is unsigned; it needs ${authority.updateThreshold} signature(s) of users with update-policy in ${whose} (--as KEY.pem, --sign-with, --signature)`
        : `${signers.length} valid signature(s) (${signers.join(', ')}) but ${authority.updateThreshold} distinct update-policy users must sign (updateThreshold of ${whose})`,
    );
  }
  return { policy, hash, signers };
}

function checkSignatures(
  authority: Policy,
  text: string,
  signatures: readonly PolicySignature[],
  first: boolean,
): string[] {
  if (signatures.length > MAX_SIGNATURES)
    throw new CasError('ERR_BAD_REQUEST', `at most ${MAX_SIGNATURES} signatures per update`);
  const where = first ? 'this first policy' : 'the policy in force';
  const signers: string[] = [];
  for (const { user, signature } of signatures) {
    const spec = Object.hasOwn(authority.users, user) ? authority.users[user] : undefined;
    if (spec === undefined) {
      throw new CasError(
        'ERR_POLICY_SIGNATURE',
        `"${user}" is not a user of ${where}, so it cannot sign updates`,
      );
    }
    if (!permissionsOf(authority, user).has('update-policy')) {
      throw new CasError(
        'ERR_POLICY_SIGNATURE',
        `user "${user}" (roles ${spec.roles.join(', ') || 'none'}) may not update the policy: no role in ${where} grants update-policy`,
      );
    }
    if (!verifyPolicySignature(text, signature, spec.certificate)) {
      throw new CasError(
        'ERR_POLICY_SIGNATURE',
        `the signature of "${user}" does not verify over this document with the certificate of "${user}" in ${where}: it was made for other text or with another key`,
      );
    }
    if (!signers.includes(user)) signers.push(user);
  }
  return signers;
}

/** The CAS's own TLS name may not be given to anyone else (clients use it to recognize the CAS). */
function checkReservedNames(policy: Policy): void {
  for (const [name, spec] of Object.entries(policy.secrets)) {
    if (spec.type !== 'certificate') continue;
    const i = spec.dnsNames.indexOf(CAS_TLS_NAME);
    if (i >= 0) {
      throw new CasError('ERR_POLICY_INVALID', `${CAS_TLS_NAME} is reserved for the CAS itself`, {
        path: `secrets.${name}.dnsNames[${i}]`,
      });
    }
  }
}

/**
 * The secrets of `policy`: existing ones with the same name and spec are kept (user-provided ones
 * too), others are generated; secrets the policy no longer names are dropped.
 */
export function reconcileSecrets(
  policy: Policy,
  existing: ReadonlyMap<string, SecretValue>,
  ca: CasCa,
): Map<string, SecretValue> {
  const out = new Map<string, SecretValue>();
  for (const [name, spec] of Object.entries(policy.secrets)) {
    const old = existing.get(name);
    if (old !== undefined && sameSecretSpec(old.spec, spec)) out.set(name, old);
    else if (spec.type !== 'user-provided') out.set(name, generateSecret(name, spec, ca));
  }
  return out;
}
