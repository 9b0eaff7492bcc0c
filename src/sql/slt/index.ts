/**
 * The sqllogictest runner: parses `.test`/`.slt` files (format: `../shared/slt/FORMAT.md`), runs
 * them on CascaDB or any {@link SltTarget}, and reports passed, failed, skipped and unsupported
 * records per file. `npm run slt -- FILES…` runs it from the command line (`scripts/slt.ts`).
 */
export { openCascadbSltTarget } from './cascadb-target.ts';
export {
  compareResult,
  hashValues,
  parseHashLine,
  renderResult,
  renderRowValue,
  renderValue,
} from './slt-compare.ts';
export {
  isRecordEnabled,
  layoutOf,
  parseSlt,
  type SltCondition,
  type SltControl,
  type SltLayout,
  type SltQuery,
  type SltRecord,
  type SltSortMode,
  type SltStatement,
} from './slt-parser.ts';
export {
  DEFAULT_SLT_ENGINES,
  runSlt,
  runSltFile,
  type SltFailure,
  type SltFileReport,
  type SltResult,
  type SltRunOptions,
  type SltTarget,
  sqlstateOf,
} from './slt-runner.ts';
