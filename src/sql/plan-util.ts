/** Small helpers shared by the planners. */
import { constant, node } from './compile.ts';
import type { Compiled } from './plan-types.ts';

/** The AND (three-valued) of compiled boolean conditions. */
export function andAll(conds: readonly Compiled[]): Compiled {
  if (conds.length === 0) return constant('boolean', true);
  if (conds.length === 1) return conds[0]!;
  const fs = conds.map((c) => c.eval);
  return node('boolean', conds, (row, env) => {
    let sawNull = false;
    for (const f of fs) {
      const v = f(row, env);
      if (v === false) return false;
      if (v === null) sawNull = true;
    }
    return sawNull ? null : true;
  });
}
