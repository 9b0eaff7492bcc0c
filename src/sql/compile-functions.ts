/** Compilation of function calls: conditional functions, then the scalar function registry. */
import type { FunctionCall } from './ast.ts';
import { type CompileContext, coerce, compile, node } from './compile.ts';
import { unifyAll } from './compile-preds.ts';
import { SqlError } from './errors.ts';
import { AGGREGATES, resolveFunction } from './functions.ts';
import type { Compiled } from './plan-types.ts';
import { comparatorFor, type Value } from './types.ts';

function compileConditional(e: FunctionCall, ctx: CompileContext): Compiled | undefined {
  switch (e.name) {
    case 'coalesce': {
      const [args, t] = unifyAll(
        e.args.map((a) => compile(a, ctx)),
        ctx,
        'COALESCE',
      );
      return node(t, args, (row, env) => {
        for (const a of args) {
          const v = a.eval(row, env);
          if (v !== null) return v;
        }
        return null;
      });
    }
    case 'nullif': {
      if (e.args.length !== 2) return undefined;
      const [[a, b], t] = unifyAll(
        e.args.map((x) => compile(x, ctx)),
        ctx,
        'NULLIF',
      );
      const cmp = comparatorFor(t);
      return node(t, [a!, b!], (row, env) => {
        const x = a!.eval(row, env);
        const y = b!.eval(row, env);
        return x !== null && y !== null && cmp(x, y) === 0 ? null : x;
      });
    }
    case 'greatest':
    case 'least': {
      const [args, t] = unifyAll(
        e.args.map((a) => compile(a, ctx)),
        ctx,
        e.name.toUpperCase(),
      );
      const cmp = comparatorFor(t);
      const sign = e.name === 'greatest' ? 1 : -1;
      return node(t, args, (row, env) => {
        let best: Value = null;
        for (const a of args) {
          const v = a.eval(row, env);
          if (v !== null && (best === null || cmp(v, best) * sign > 0)) best = v;
        }
        return best;
      });
    }
    default:
      return undefined;
  }
}

/** Compiles a function call (aggregates are handled by the aggregation planner, not here). */
export function compileFunction(e: FunctionCall, ctx: CompileContext): Compiled {
  if (AGGREGATES.has(e.name)) {
    throw new SqlError('ERR_SQL_GROUPING', `aggregate functions are not allowed in ${ctx.clause}`, {
      position: e.pos,
    });
  }
  if (e.distinct || e.star) {
    throw new SqlError('ERR_SQL_SYNTAX', `${e.name} is not an aggregate function`, { position: e.pos });
  }
  const conditional = compileConditional(e, ctx);
  if (conditional !== undefined) return conditional;
  const args = e.args.map((a) => compile(a, ctx));
  let fn: ReturnType<typeof resolveFunction>;
  try {
    fn = resolveFunction(
      e.name,
      args.map((a) => a.type),
    );
  } catch (err) {
    if (err instanceof SqlError)
      throw new SqlError(err.code, err.message, { position: e.pos, hint: err.hint });
    throw err;
  }
  const typed = args.map((a, i) => coerce(a, fn.argTypes[Math.min(i, fn.argTypes.length - 1)]!, ctx, e.pos));
  const n = typed.length;
  return node(
    fn.type,
    typed,
    (row, env) => {
      const vals: Value[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const v = typed[i]!.eval(row, env);
        if (v === null && fn.strict) return null;
        vals[i] = v;
      }
      return fn.fn(vals, env.now);
    },
    fn.pure,
  );
}
