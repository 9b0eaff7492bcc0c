import { TeeError } from '../errors.ts';

/** Bit positions of the single-bit flags of the SEV-SNP guest policy (ABI spec, GUEST_POLICY). */
export const SNP_POLICY_BITS = {
  smt: 16,
  migrateMa: 18,
  debug: 19,
  singleSocket: 20,
  cxlAllow: 21,
  memAes256Xts: 22,
  raplDis: 23,
  ciphertextHiding: 24,
  pageSwapDisable: 25,
} as const;

/** A single-bit flag of the guest policy. */
export type SnpPolicyBit = keyof typeof SNP_POLICY_BITS;

/**
 * A guest policy flag that the verifier's policy can require or forbid. DEBUG is not among them:
 * it is appraised with every platform's debug flag (`VerifyOptions.allowDebug`).
 */
export type SnpPolicyFlag = Exclude<SnpPolicyBit, 'debug'>;

/** Every flag of {@link SnpPolicyFlag}, in bit order. */
export const SNP_POLICY_FLAGS = [
  'smt',
  'migrateMa',
  'singleSocket',
  'cxlAllow',
  'memAes256Xts',
  'raplDis',
  'ciphertextHiding',
  'pageSwapDisable',
] as const satisfies readonly SnpPolicyFlag[];

/** Bit 17 of the guest policy is reserved and must be 1. */
export const SNP_POLICY_RESERVED_ONE = 1n << 17n;
/** Bits 26-63 of the guest policy are reserved and must be 0. */
export const SNP_POLICY_RESERVED_MASK = ~((1n << 26n) - 1n) & 0xffff_ffff_ffff_ffffn;

/** A decoded guest policy. */
export type SnpGuestPolicy = {
  readonly raw: bigint;
  readonly abiMajor: number;
  readonly abiMinor: number;
} & {
  readonly [K in SnpPolicyBit]: boolean;
};

/** Decodes the guest policy u64 of a report. */
export function decodeSnpPolicy(raw: bigint): SnpGuestPolicy {
  const flags = Object.fromEntries(
    Object.entries(SNP_POLICY_BITS).map(([name, bit]) => [name, ((raw >> BigInt(bit)) & 1n) === 1n]),
  ) as { [K in SnpPolicyBit]: boolean };
  return { raw, abiMinor: Number(raw & 0xffn), abiMajor: Number((raw >> 8n) & 0xffn), ...flags };
}

/**
 * What the verifier requires of the guest policy and VMPL, beyond DEBUG. Defaults: a guest that may
 * be associated with a migration agent (MIGRATE_MA) is refused — the agent can export the guest's
 * memory — unless `allowMigrationAgent`; no other flag is required or forbidden; any ABI minimum
 * and any VMPL are accepted.
 */
export interface SnpPolicyRequirements {
  /** Accept MIGRATE_MA = 1. Default false. */
  readonly allowMigrationAgent?: boolean;
  /** Flags that must be set, e.g. `['singleSocket', 'memAes256Xts']`. */
  readonly require?: readonly SnpPolicyFlag[];
  /** Flags that must be clear, e.g. `['smt', 'cxlAllow']`. */
  readonly forbid?: readonly SnpPolicyFlag[];
  /** Minimum firmware ABI the guest policy must demand (its ABI_MAJOR.ABI_MINOR). */
  readonly minAbi?: { readonly major: number; readonly minor: number };
  /** Highest VMPL (privilege level, 0 is highest) the report may have been requested from. */
  readonly maxVmpl?: number;
}

function refuse(message: string, value: string, expected: string): never {
  throw new TeeError('ERR_POLICY_FLAGS', message, { check: 'guest-policy', value, expected });
}

/**
 * Checks a decoded guest policy and the report's VMPL against `req`; throws `ERR_POLICY_FLAGS`
 * naming the first flag that is not acceptable.
 */
export function checkSnpPolicy(policy: SnpGuestPolicy, vmpl: number, req: SnpPolicyRequirements = {}): void {
  const raw = `policy=0x${policy.raw.toString(16)}`;
  if (policy.migrateMa && !req.allowMigrationAgent) {
    refuse(
      'the SEV-SNP guest policy allows a migration agent (MIGRATE_MA), which can export the guest; it is refused unless allowMigrationAgent is set',
      `${raw} migrateMa=true`,
      'migrateMa=false',
    );
  }
  for (const flag of req.require ?? []) {
    if (!policy[flag])
      refuse(`the SEV-SNP guest policy does not set ${flag}, which is required`, raw, `${flag}=true`);
  }
  for (const flag of req.forbid ?? []) {
    if (policy[flag])
      refuse(`the SEV-SNP guest policy sets ${flag}, which is forbidden`, raw, `${flag}=false`);
  }
  const min = req.minAbi;
  if (
    min &&
    (policy.abiMajor < min.major || (policy.abiMajor === min.major && policy.abiMinor < min.minor))
  ) {
    refuse(
      `the SEV-SNP guest policy demands firmware ABI ${policy.abiMajor}.${policy.abiMinor}, below the required minimum`,
      `abi=${policy.abiMajor}.${policy.abiMinor}`,
      `abi>=${min.major}.${min.minor}`,
    );
  }
  if (req.maxVmpl !== undefined && vmpl > req.maxVmpl) {
    refuse(
      `the SEV-SNP report was requested from VMPL ${vmpl}, less privileged than the allowed maximum`,
      `vmpl=${vmpl}`,
      `vmpl<=${req.maxVmpl}`,
    );
  }
}
