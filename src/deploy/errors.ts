/** Stable codes of the deployment context. */
export const DEPLOY_ERROR_CODES = [
  'ERR_DEPLOYMENT_INVALID', // the deployment file is not valid (path-precise message)
  'ERR_PORT_IN_USE', // a port the deployment needs is taken
  'ERR_ALREADY_RUNNING', // a deployment already runs on this data directory
  'ERR_NOT_RUNNING', // no deployment runs on this data directory
  'ERR_SERVICE_START', // a service did not become ready
  'ERR_CAS_STATE', // the CAS state does not open and cannot be recovered
  'ERR_OWNER_KEY', // the owner key cannot update the policy in force
  'ERR_METERS', // the provisioned meters do not fit the deployment
] as const;

/** One of {@link DEPLOY_ERROR_CODES}. */
export type DeployErrorCode = (typeof DEPLOY_ERROR_CODES)[number];

/** Error of `securecloud up`, `status`, `reset`: says what was found, what was expected, and the remedy. */
export class DeployError extends Error {
  override readonly name = 'DeployError';
  readonly code: DeployErrorCode;
  /** Where in the deployment file (`mdc.shards`), for ERR_DEPLOYMENT_INVALID. */
  readonly path: string | undefined;

  constructor(code: DeployErrorCode, message: string, options?: { cause?: unknown; path?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options?.path;
  }
}

/** True when `value` is a {@link DeployError}, optionally with the given code. */
export function isDeployError(value: unknown, code?: DeployErrorCode): value is DeployError {
  return value instanceof DeployError && (code === undefined || value.code === code);
}
