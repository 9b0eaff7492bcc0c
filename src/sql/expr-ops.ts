/** Run-time operators on non-null values of a resolved type. */
import type { BinaryOperator } from './ast.ts';
import { checkInt4, checkInt8 } from './cast.ts';
import type { Decimal } from './decimal.ts';
import { SqlError } from './errors.ts';
import type { TypeId, Value } from './types.ts';

export type BinaryFn = (a: Value, b: Value) => Value;

function divByZero(): never {
  throw new SqlError('ERR_SQL_DIVISION_BY_ZERO', 'division by zero');
}

function intOps(op: BinaryOperator): BinaryFn | undefined {
  switch (op) {
    case '+':
      return (a, b) => checkInt4((a as number) + (b as number));
    case '-':
      return (a, b) => checkInt4((a as number) - (b as number));
    case '*':
      return (a, b) => {
        const r = (a as number) * (b as number);
        if (!Number.isSafeInteger(r))
          throw new SqlError('ERR_SQL_NUMERIC_OUT_OF_RANGE', 'integer out of range');
        return checkInt4(r);
      };
    case '/':
      return (a, b) => (b === 0 ? divByZero() : checkInt4(Math.trunc((a as number) / (b as number))));
    case '%':
      return (a, b) => (b === 0 ? divByZero() : checkInt4((a as number) % (b as number)));
    default:
      return undefined;
  }
}

function bigOps(op: BinaryOperator): BinaryFn | undefined {
  switch (op) {
    case '+':
      return (a, b) => checkInt8((a as bigint) + (b as bigint));
    case '-':
      return (a, b) => checkInt8((a as bigint) - (b as bigint));
    case '*':
      return (a, b) => checkInt8((a as bigint) * (b as bigint));
    case '/':
      return (a, b) => (b === 0n ? divByZero() : checkInt8((a as bigint) / (b as bigint)));
    case '%':
      return (a, b) => (b === 0n ? divByZero() : (a as bigint) % (b as bigint));
    default:
      return undefined;
  }
}

function numericOps(op: BinaryOperator): BinaryFn | undefined {
  switch (op) {
    case '+':
      return (a, b) => (a as Decimal).add(b as Decimal);
    case '-':
      return (a, b) => (a as Decimal).sub(b as Decimal);
    case '*':
      return (a, b) => (a as Decimal).mul(b as Decimal);
    case '/':
      return (a, b) => (a as Decimal).div(b as Decimal);
    case '%':
      return (a, b) => (a as Decimal).mod(b as Decimal);
    default:
      return undefined;
  }
}

function floatOps(op: BinaryOperator, real: boolean): BinaryFn | undefined {
  const r = real ? Math.fround : (x: number) => x;
  switch (op) {
    case '+':
      return (a, b) => r((a as number) + (b as number));
    case '-':
      return (a, b) => r((a as number) - (b as number));
    case '*':
      return (a, b) => r((a as number) * (b as number));
    case '/':
      return (a, b) => (b === 0 ? divByZero() : r((a as number) / (b as number)));
    case '%':
      return (a, b) => (b === 0 ? divByZero() : r((a as number) % (b as number)));
    default:
      return undefined;
  }
}

/** The arithmetic operator `op` on values of type `t`, or undefined when the type has none. */
export function arithmetic(op: BinaryOperator, t: TypeId): BinaryFn | undefined {
  switch (t) {
    case 'integer':
      return intOps(op);
    case 'bigint':
      return bigOps(op);
    case 'numeric':
      return numericOps(op);
    case 'real':
      return floatOps(op, true);
    case 'double':
      return floatOps(op, false);
    default:
      return undefined;
  }
}

/** Turns a comparator result into the boolean of a comparison operator. */
export function comparisonTest(op: BinaryOperator): (c: number) => boolean {
  switch (op) {
    case '=':
      return (c) => c === 0;
    case '<>':
      return (c) => c !== 0;
    case '<':
      return (c) => c < 0;
    case '<=':
      return (c) => c <= 0;
    case '>':
      return (c) => c > 0;
    default:
      return (c) => c >= 0;
  }
}

export function isComparison(op: BinaryOperator): boolean {
  return op === '=' || op === '<>' || op === '<' || op === '<=' || op === '>' || op === '>=';
}

/** Unary minus on a value of type `t`. */
export function negate(t: TypeId): (v: Value) => Value {
  switch (t) {
    case 'integer':
      return (v) => checkInt4(-(v as number));
    case 'bigint':
      return (v) => checkInt8(-(v as bigint));
    case 'numeric':
      return (v) => (v as Decimal).neg();
    default:
      return (v) => -(v as number);
  }
}

const likeCache = new Map<string, RegExp>();

/**
 * Compiles a LIKE pattern (`%` any string, `_` one character, `escape` quoting the next character)
 * into an anchored regular expression.
 */
export function likeRegex(pattern: string, escapeChar: string, caseInsensitive: boolean): RegExp {
  const cacheKey = `${caseInsensitive ? 'i' : 's'}${escapeChar}\u0000${pattern}`;
  const hit = likeCache.get(cacheKey);
  if (hit !== undefined) return hit;
  let src = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (escapeChar !== '' && c === escapeChar) {
      const next = chars[++i];
      if (next === undefined) {
        throw new SqlError('ERR_SQL_INVALID_ESCAPE', 'LIKE pattern must not end with escape character');
      }
      src += next.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (c === '%') src += '.*';
    else if (c === '_') src += '.';
    else src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  const re = new RegExp(`^${src}$`, caseInsensitive ? 'isu' : 'su');
  if (likeCache.size > 500) likeCache.clear();
  likeCache.set(cacheKey, re);
  return re;
}

/**
 * The literal prefix of a LIKE pattern (before the first wildcard), and whether the pattern is
 * exactly that prefix followed by `%` or nothing (then the prefix range is exact).
 */
export function likePrefix(pattern: string, escapeChar: string): { prefix: string; exact: boolean } {
  let prefix = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (escapeChar !== '' && c === escapeChar && i + 1 < chars.length) {
      prefix += chars[++i]!;
    } else if (c === '%' || c === '_') {
      const rest = chars.slice(i);
      return { prefix, exact: rest.every((x) => x === '%') };
    } else prefix += c;
  }
  return { prefix, exact: false };
}
