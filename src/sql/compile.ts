/**
 * Expression compiler: resolves names and types once (PostgreSQL's rules, simplified) and turns an
 * AST expression into a closure over a row. Constant subexpressions are folded.
 */
import type { BinaryExpr, CastExpr, Expr, Query, SourcePos, UnaryExpr } from './ast.ts';
import { applyTypmod, castValue, implicitlyCastable, valueToText } from './cast.ts';
import { compileFunction } from './compile-functions.ts';
import {
  compileBetween,
  compileCase,
  compileInList,
  compileIsBoolean,
  compileIsDistinct,
  compileIsNull,
  compileLike,
} from './compile-preds.ts';
import { compileExists, compileInSubquery, compileScalarSubquery } from './compile-subquery.ts';
import { Decimal } from './decimal.ts';
import { SqlError } from './errors.ts';
import { arithmetic, comparisonTest, isComparison, negate } from './expr-ops.ts';
import type { Compiled, Env, Eval, PlanNode } from './plan-types.ts';
import { resolveColumn, type Scope, type SubqueryMarker } from './scope.ts';
import {
  columnTypeOf,
  commonType,
  comparatorFor,
  isNumeric,
  type Row,
  type TypeId,
  typeLabel,
  type Value,
} from './types.ts';

/** The inferred types of a statement's parameters (`$1` is index 0). */
export interface ParamTypes {
  readonly types: (TypeId | undefined)[];
}

/** Plans subqueries for the compiler (the planner passes itself in, avoiding an import cycle). */
export interface SubqueryPlanner {
  plan(query: Query, scope: Scope): { root: PlanNode; marker: SubqueryMarker };
  /** A fresh result slot, unique within the statement. */
  slot(): number;
}

/** Matches group keys and aggregates when compiling expressions above an aggregation. */
export interface AggMatcher {
  match(e: Expr, ctx: CompileContext): Compiled | undefined;
}

export interface CompileContext {
  readonly scope: Scope;
  readonly params: ParamTypes;
  readonly subqueries: SubqueryPlanner;
  readonly agg?: AggMatcher | undefined;
  /** The clause being compiled, for messages (`WHERE`, `SELECT`…). */
  readonly clause: string;
}

const NO_ENV = {} as Env;
const NO_ROW: Row = [];

/** Combines the subquery preparations of children. */
export function combinePrepare(children: readonly Compiled[]): Compiled['prepare'] {
  const preps = children.map((c) => c.prepare).filter((p) => p !== undefined);
  if (preps.length === 0) return undefined;
  if (preps.length === 1) return preps[0];
  return async (row, env) => {
    for (const p of preps) await p(row, env);
  };
}

/** A constant. */
export function constant(type: TypeId, value: Value): Compiled {
  return { type, eval: () => value, isConst: true, local: false };
}

/** Builds a node from its children, folding it when every child is constant and `pure`. */
export function node(type: TypeId, children: readonly Compiled[], fn: Eval, pure = true): Compiled {
  const isConst = pure && children.every((c) => c.isConst);
  if (isConst) {
    try {
      return constant(type, fn(NO_ROW, NO_ENV));
    } catch {
      // Not folded: the error is raised only if the expression is evaluated.
    }
  }
  return {
    type,
    eval: fn,
    isConst: false,
    local: children.some((c) => c.local),
    prepare: combinePrepare(children),
  };
}

function withPos<T>(pos: SourcePos | undefined, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof SqlError && err.position === undefined && pos !== undefined) {
      throw new SqlError(err.code, err.message, {
        position: pos,
        detail: err.detail,
        hint: err.hint,
        cause: err.cause,
      });
    }
    throw err;
  }
}

/** Converts `c` to type `to` implicitly (assignment, operands); 42804 when no implicit cast exists. */
export function coerce(c: Compiled, to: TypeId, ctx: CompileContext, pos?: SourcePos): Compiled {
  if (c.type === to || (to === 'unknown' && c.param === undefined)) return c;
  if (c.param !== undefined) {
    ctx.params.types[c.param] = to === 'varchar' || to === 'unknown' ? 'text' : to;
    return { ...c, type: to, param: undefined };
  }
  if (!implicitlyCastable(c.type, to)) {
    throw new SqlError(
      'ERR_SQL_DATATYPE_MISMATCH',
      `${ctx.clause}: expected type ${typeLabel(to)} but expression is of type ${typeLabel(c.type)}`,
      { position: pos, hint: 'You will need to rewrite or cast the expression.' },
    );
  }
  if ((c.type === 'text' && to === 'varchar') || (c.type === 'varchar' && to === 'text'))
    return { ...c, type: to };
  if (c.isConst) return withPos(pos, () => constant(to, castValue(c.eval(NO_ROW, NO_ENV), c.type, to)));
  return explicitCast(c, to);
}

/** A run-time cast of a non-constant expression. */
export function explicitCast(c: Compiled, to: TypeId): Compiled {
  const from = c.type;
  const inner = c.eval;
  let f: Eval;
  if (from === 'integer' && to === 'bigint')
    f = (r, e) => {
      const v = inner(r, e);
      return v === null ? null : BigInt(v as number);
    };
  else if ((from === 'integer' || from === 'bigint') && to === 'double')
    f = (r, e) => {
      const v = inner(r, e);
      return v === null ? null : Number(v);
    };
  else f = (r, e) => castValue(inner(r, e), from, to);
  return node(to, [c], f);
}

/** Compiles an expression that must be boolean (WHERE, ON, HAVING, CASE WHEN). */
export function compileCondition(e: Expr, ctx: CompileContext): Compiled {
  const c = compile(e, ctx);
  if (c.type === 'boolean') return c;
  if (c.type === 'unknown') return coerce(c, 'boolean', ctx, e.pos);
  throw new SqlError(
    'ERR_SQL_DATATYPE_MISMATCH',
    `argument of ${ctx.clause} must be type boolean, not type ${typeLabel(c.type)}`,
    { position: e.pos },
  );
}

/** Compiles a scalar expression. */
export function compile(e: Expr, ctx: CompileContext): Compiled {
  const matched = ctx.agg?.match(e, ctx);
  if (matched !== undefined) return matched;
  switch (e.kind) {
    case 'IntegerLiteral': {
      const v = e.value;
      return v >= -2147483648n && v <= 2147483647n ? constant('integer', Number(v)) : constant('bigint', v);
    }
    case 'NumericLiteral':
      return withPos(e.pos, () => constant('numeric', Decimal.parse(e.text)));
    case 'StringLiteral':
      return constant('unknown', e.value);
    case 'BooleanLiteral':
      return constant('boolean', e.value);
    case 'NullLiteral':
      return constant('unknown', null);
    case 'ColumnRef': {
      const r = resolveColumn(ctx.scope, e);
      const { index, depth } = r;
      if (depth === 0)
        return { type: r.type, eval: (row) => row[index]!, isConst: false, local: true, column: index };
      return {
        type: r.type,
        eval: (_row, env) => env.outer[depth - 1]![index]!,
        isConst: false,
        local: false,
      };
    }
    case 'Parameter': {
      const i = e.index - 1;
      while (ctx.params.types.length <= i) ctx.params.types.push(undefined);
      const t = ctx.params.types[i];
      const f: Eval = (_row, env) => env.params[i] ?? null;
      if (t === undefined) return { type: 'unknown', eval: f, isConst: false, local: false, param: i };
      return { type: t, eval: f, isConst: false, local: false };
    }
    case 'Unary':
      return compileUnary(e, ctx);
    case 'Binary':
      return compileBinary(e, ctx);
    case 'IsNull':
      return compileIsNull(e, ctx);
    case 'IsDistinctFrom':
      return compileIsDistinct(e, ctx);
    case 'IsBoolean':
      return compileIsBoolean(e, ctx);
    case 'Between':
      return compileBetween(e, ctx);
    case 'InList':
      return compileInList(e, ctx);
    case 'InSubquery':
      return compileInSubquery(e, ctx);
    case 'Like':
      return compileLike(e, ctx);
    case 'Case':
      return compileCase(e, ctx);
    case 'FunctionCall':
      return compileFunction(e, ctx);
    case 'Cast':
      return compileCast(e, ctx);
    case 'Subquery':
      return compileScalarSubquery(e, ctx);
    case 'Exists':
      return compileExists(e, ctx);
    case 'Default':
      throw new SqlError('ERR_SQL_SYNTAX', 'DEFAULT is not allowed in this context', { position: e.pos });
  }
}

function compileCast(e: CastExpr, ctx: CompileContext): Compiled {
  const c = compile(e.expr, ctx);
  const target = columnTypeOf(e.type);
  const to = target.name;
  if (c.param !== undefined) return coerce(c, to, ctx, e.pos);
  const inner = c.type === to ? c : node(to, [c], (r, env) => castValue(c.eval(r, env), c.type, to));
  if (target.precision === undefined) return withPos(e.pos, () => foldNow(inner));
  const f = inner.eval;
  const typmod =
    to === 'varchar'
      ? (v: Value) => (typeof v === 'string' ? [...v].slice(0, target.precision).join('') : v)
      : (v: Value) => applyTypmod(v, target);
  return withPos(e.pos, () => foldNow(node(to, [inner], (r, env) => typmod(f(r, env)))));
}

/** Evaluates a constant now so that a bad literal (`'x'::integer`) fails at plan time. */
function foldNow(c: Compiled): Compiled {
  if (c.isConst) c.eval(NO_ROW, NO_ENV);
  return c;
}

function compileUnary(e: UnaryExpr, ctx: CompileContext): Compiled {
  if (e.op === 'NOT') {
    const c = compileCondition(e.operand, { ...ctx, clause: 'NOT' });
    const f = c.eval;
    return node('boolean', [c], (r, env) => {
      const v = f(r, env);
      return v === null ? null : !v;
    });
  }
  let c = compile(e.operand, ctx);
  if (c.type === 'unknown') c = coerce(c, 'numeric', ctx, e.pos);
  if (!isNumeric(c.type)) {
    throw new SqlError(
      'ERR_SQL_UNDEFINED_FUNCTION',
      `operator does not exist: ${e.op} ${typeLabel(c.type)}`,
      {
        position: e.pos,
      },
    );
  }
  if (e.op === '+') return c;
  const neg = negate(c.type);
  const f = c.eval;
  return node(c.type, [c], (r, env) => {
    const v = f(r, env);
    return v === null ? null : neg(v);
  });
}

function operatorError(e: BinaryExpr, a: TypeId, b: TypeId): SqlError {
  return new SqlError(
    'ERR_SQL_UNDEFINED_FUNCTION',
    `operator does not exist: ${typeLabel(a)} ${e.op} ${typeLabel(b)}`,
    {
      position: e.pos,
      hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.',
    },
  );
}

/** Resolves both operands to one type (unknown literals and parameters adopt the other side's). */
export function unify(
  e: BinaryExpr,
  l: Compiled,
  r: Compiled,
  ctx: CompileContext,
): [Compiled, Compiled, TypeId] {
  let t = commonType(l.type, r.type);
  if (t === 'unknown') t = 'text';
  if (t === undefined) throw operatorError(e, l.type, r.type);
  return [coerce(l, t, ctx, e.pos), coerce(r, t, ctx, e.pos), t];
}

function compileBinary(e: BinaryExpr, ctx: CompileContext): Compiled {
  if (e.op === 'AND' || e.op === 'OR') return compileLogical(e, ctx);
  const l0 = compile(e.left, ctx);
  const r0 = compile(e.right, ctx);
  if (e.op === '||') return compileConcat(l0, r0, ctx, e);
  const [l, r, t] = unify(e, l0, r0, ctx);
  const lf = l.eval;
  const rf = r.eval;
  if (isComparison(e.op)) {
    const test = comparisonTest(e.op);
    if (
      e.op === '=' &&
      (t === 'integer' || t === 'bigint' || t === 'text' || t === 'boolean' || t === 'timestamp')
    ) {
      return node('boolean', [l, r], (row, env) => {
        const a = lf(row, env);
        if (a === null) return null;
        const b = rf(row, env);
        return b === null ? null : a === b;
      });
    }
    const cmp = comparatorFor(t);
    return node('boolean', [l, r], (row, env) => {
      const a = lf(row, env);
      if (a === null) return null;
      const b = rf(row, env);
      return b === null ? null : test(cmp(a, b));
    });
  }
  if (e.op === '^') {
    const ld = coerce(l, 'double', ctx);
    const rd = coerce(r, 'double', ctx);
    return node('double', [ld, rd], (row, env) => {
      const a = ld.eval(row, env);
      const b = rd.eval(row, env);
      return a === null || b === null ? null : (a as number) ** (b as number);
    });
  }
  const op = arithmetic(e.op, t);
  if (op === undefined) throw operatorError(e, l.type, r.type);
  return node(t, [l, r], (row, env) => {
    const a = lf(row, env);
    if (a === null) return null;
    const b = rf(row, env);
    return b === null ? null : op(a, b);
  });
}

function compileConcat(l0: Compiled, r0: Compiled, ctx: CompileContext, e: BinaryExpr): Compiled {
  const l = l0.type === 'unknown' ? coerce(l0, 'text', ctx, e.pos) : l0;
  const r = r0.type === 'unknown' ? coerce(r0, 'text', ctx, e.pos) : r0;
  return node('text', [l, r], (row, env) => {
    const a = l.eval(row, env);
    const b = r.eval(row, env);
    return a === null || b === null ? null : valueToText(a, l.type) + valueToText(b, r.type);
  });
}

function compileLogical(e: BinaryExpr, ctx: CompileContext): Compiled {
  const l = compileCondition(e.left, { ...ctx, clause: e.op });
  const r = compileCondition(e.right, { ...ctx, clause: e.op });
  const lf = l.eval;
  const rf = r.eval;
  if (e.op === 'AND') {
    return node('boolean', [l, r], (row, env) => {
      const a = lf(row, env);
      if (a === false) return false;
      const b = rf(row, env);
      if (b === false) return false;
      return a === null || b === null ? null : true;
    });
  }
  return node('boolean', [l, r], (row, env) => {
    const a = lf(row, env);
    if (a === true) return true;
    const b = rf(row, env);
    if (b === true) return true;
    return a === null || b === null ? null : false;
  });
}
