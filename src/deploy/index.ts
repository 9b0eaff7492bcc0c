/**
 * Local deployments: the deployment file, the policy `securecloud up` generates, the supervisor that
 * runs the CAS, CascaDB, the MDC shards, the aggregators and the meter simulator as processes, the
 * state file `securecloud status` reads, and the demo's live view. Other contexts import only from
 * this file.
 */
export {
  DEPLOYMENT_TEES,
  type Deployment,
  type DeploymentPort,
  type DeploymentTee,
  deploymentPorts,
  loadDeployment,
  parseByteSize,
  parseDeployment,
  validateDeployment,
} from './deployment-file.ts';
export {
  buildDeploymentPolicy,
  CASCADB_SECRETS,
  type DeploymentPolicyInput,
  deploymentPolicyText,
  isSamePolicy,
  SCBR_ROUTER,
} from './deployment-policy.ts';
export {
  type LiveCounters,
  type RunningDeployment,
  SIMULATION_BANNER,
  type StartDeploymentOptions,
  startDeployment,
} from './deployment-runner.ts';
export { DEPLOY_ERROR_CODES, DeployError, type DeployErrorCode, isDeployError } from './errors.ts';
export { getJson } from './https-json.ts';
export { ansiFrame, type LiveViewInput, renderLiveLine, renderLiveView } from './live-view.ts';
export { type BackoffPolicy, backoffDelay, type ReadyInfo, type ServiceSpec } from './managed-service.ts';
export { assertPortsFree, isPortFree } from './ports.ts';
export { type DataLayout, dataLayout } from './service-specs.ts';
export {
  isProcessAlive,
  type RoundRecord,
  type RoundTotals,
  readUpState,
  reportsPerSecond,
  runningDeployment,
  type ServiceKind,
  type ServiceRecord,
  type ServiceState,
  stateFilePath,
  type UpState,
} from './state-file.ts';
export { collectStatus, type ServiceStatus, type StatusCounters, type StatusReport } from './status.ts';
