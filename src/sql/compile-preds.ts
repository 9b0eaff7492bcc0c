/** Compilation of predicates and conditional expressions: IS, BETWEEN, IN (list), LIKE, CASE. */
import type {
  BetweenExpr,
  CaseExpr,
  InListExpr,
  IsBooleanExpr,
  IsDistinctFromExpr,
  IsNullExpr,
  LikeExpr,
} from './ast.ts';
import { type CompileContext, coerce, compile, compileCondition, constant, node } from './compile.ts';
import { SqlError } from './errors.ts';
import { likeRegex } from './expr-ops.ts';
import type { Compiled } from './plan-types.ts';
import { commonType, comparatorFor, hashValue, type TypeId, typeLabel, type Value } from './types.ts';

function not3(v: Value): Value {
  return v === null ? null : !v;
}

/** The common type of several expressions (CASE, IN, COALESCE); unknown-only becomes text. */
export function unifyAll(
  items: readonly Compiled[],
  ctx: CompileContext,
  what: string,
): [Compiled[], TypeId] {
  let t: TypeId = 'unknown';
  for (const c of items) {
    const next = commonType(t, c.type);
    if (next === undefined) {
      throw new SqlError(
        'ERR_SQL_DATATYPE_MISMATCH',
        `${what} types ${typeLabel(t)} and ${typeLabel(c.type)} cannot be matched`,
      );
    }
    t = next;
  }
  if (t === 'unknown') t = 'text';
  return [items.map((c) => coerce(c, t, ctx)), t];
}

export function compileIsNull(e: IsNullExpr, ctx: CompileContext): Compiled {
  const c = compile(e.expr, ctx);
  const f = c.eval;
  return node('boolean', [c], e.negated ? (r, env) => f(r, env) !== null : (r, env) => f(r, env) === null);
}

export function compileIsDistinct(e: IsDistinctFromExpr, ctx: CompileContext): Compiled {
  const [[l, r], t] = unifyAll([compile(e.left, ctx), compile(e.right, ctx)], ctx, 'IS DISTINCT FROM');
  const cmp = comparatorFor(t);
  return node('boolean', [l!, r!], (row, env) => {
    const a = l!.eval(row, env);
    const b = r!.eval(row, env);
    const distinct = a === null || b === null ? a !== b : cmp(a, b) !== 0;
    return e.negated ? !distinct : distinct;
  });
}

export function compileIsBoolean(e: IsBooleanExpr, ctx: CompileContext): Compiled {
  const c = compileCondition(e.expr, { ...ctx, clause: 'IS' });
  const want = e.value === 'TRUE' ? true : e.value === 'FALSE' ? false : null;
  return node('boolean', [c], (r, env) => (c.eval(r, env) === want) !== e.negated);
}

export function compileBetween(e: BetweenExpr, ctx: CompileContext): Compiled {
  const [[x, lo, hi], t] = unifyAll(
    [compile(e.expr, ctx), compile(e.low, ctx), compile(e.high, ctx)],
    ctx,
    'BETWEEN',
  );
  const cmp = comparatorFor(t);
  return node('boolean', [x!, lo!, hi!], (row, env) => {
    const v = x!.eval(row, env);
    const a = lo!.eval(row, env);
    const b = hi!.eval(row, env);
    const ge = v === null || a === null ? null : cmp(v, a) >= 0;
    const le = v === null || b === null ? null : cmp(v, b) <= 0;
    const both = ge === false || le === false ? false : ge === null || le === null ? null : true;
    return e.negated ? not3(both) : both;
  });
}

export function compileInList(e: InListExpr, ctx: CompileContext): Compiled {
  const [all, t] = unifyAll([compile(e.expr, ctx), ...e.list.map((x) => compile(x, ctx))], ctx, 'IN');
  const [x, ...items] = all as [Compiled, ...Compiled[]];
  const xf = x.eval;
  const finish = (found: boolean, sawNull: boolean): Value => {
    const r = found ? true : sawNull ? null : false;
    return e.negated ? not3(r) : r;
  };
  if (items.every((c) => c.isConst)) {
    const values = items.map((c) => c.eval([], {} as never));
    const set = new Set(values.filter((v) => v !== null).map(hashValue));
    const hasNull = values.includes(null);
    return node('boolean', [x], (row, env) => {
      const v = xf(row, env);
      return v === null ? null : finish(set.has(hashValue(v)), hasNull);
    });
  }
  const cmp = comparatorFor(t);
  return node('boolean', all, (row, env) => {
    const v = xf(row, env);
    if (v === null) return null;
    let sawNull = false;
    for (const c of items) {
      const w = c.eval(row, env);
      if (w === null) sawNull = true;
      else if (cmp(v, w) === 0) return finish(true, false);
    }
    return finish(false, sawNull);
  });
}

export function compileLike(e: LikeExpr, ctx: CompileContext): Compiled {
  const x = coerce(compile(e.expr, ctx), 'text', ctx, e.pos);
  const p = coerce(compile(e.pattern, ctx), 'text', ctx, e.pos);
  const esc =
    e.escape === undefined ? constant('text', '\\') : coerce(compile(e.escape, ctx), 'text', ctx, e.pos);
  if (!esc.isConst)
    throw new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', 'a non-constant LIKE ESCAPE is not supported');
  const escapeChar = esc.eval([], {} as never) as string | null;
  if (escapeChar === null) return constant('boolean', null);
  if ([...escapeChar].length > 1) {
    throw new SqlError('ERR_SQL_INVALID_ESCAPE', 'invalid escape string', {
      hint: 'Escape string must be empty or one character.',
    });
  }
  const fixed = p.isConst ? p.eval([], {} as never) : undefined;
  const re = typeof fixed === 'string' ? likeRegex(fixed, escapeChar, e.caseInsensitive) : undefined;
  return node('boolean', [x, p], (row, env) => {
    const s = x.eval(row, env);
    if (s === null) return null;
    const pattern = re ?? p.eval(row, env);
    if (pattern === null) return null;
    const regex =
      pattern instanceof RegExp ? pattern : likeRegex(pattern as string, escapeChar, e.caseInsensitive);
    return regex.test(s as string) !== e.negated;
  });
}

export function compileCase(e: CaseExpr, ctx: CompileContext): Compiled {
  const conds: Compiled[] = [];
  if (e.operand !== undefined) {
    const operand = compile(e.operand, ctx);
    const whens = e.whens.map((w) => compile(w.when, ctx));
    const [all, t] = unifyAll([operand, ...whens], ctx, 'CASE');
    const [op, ...ws] = all as [Compiled, ...Compiled[]];
    const cmp = comparatorFor(t);
    for (const w of ws) {
      conds.push(
        node('boolean', [op, w], (row, env) => {
          const a = op.eval(row, env);
          const b = w.eval(row, env);
          return a === null || b === null ? null : cmp(a, b) === 0;
        }),
      );
    }
  } else {
    for (const w of e.whens) conds.push(compileCondition(w.when, { ...ctx, clause: 'CASE/WHEN' }));
  }
  const results = [
    ...e.whens.map((w) => compile(w.then, ctx)),
    e.else === undefined ? constant('unknown', null) : compile(e.else, ctx),
  ];
  const [rs, t] = unifyAll(results, ctx, 'CASE');
  const n = conds.length;
  return node(t, [...conds, ...rs], (row, env) => {
    for (let i = 0; i < n; i++) if (conds[i]!.eval(row, env) === true) return rs[i]!.eval(row, env);
    return rs[n]!.eval(row, env);
  });
}
