/**
 * Scalar SQL functions, resolved once at plan time from the argument types into a descriptor:
 * the result type, the types the arguments are converted to, and the implementation.
 */
import { checkInt4, checkInt8 } from './cast.ts';
import { Decimal } from './decimal.ts';
import { SqlError } from './errors.ts';
import { truncateTimestamp } from './timestamp.ts';
import { isNumeric, type TypeId, typeLabel, type Value } from './types.ts';

/** A resolved function: how to call it. `strict` functions return NULL when any argument is NULL. */
export interface FunctionImpl {
  readonly type: TypeId;
  /** Types the arguments are converted to (one per argument; the last repeats for variadics). */
  readonly argTypes: readonly TypeId[];
  readonly fn: (args: Value[], now: bigint) => Value;
  readonly strict: boolean;
  /** False for functions whose value changes between calls (now, random): never folded. */
  readonly pure: boolean;
}

type Resolver = (types: readonly TypeId[]) => FunctionImpl | undefined;

const numericKinds = (t: TypeId): TypeId => (t === 'unknown' ? 'double' : t);

function impl(
  type: TypeId,
  argTypes: TypeId[],
  fn: FunctionImpl['fn'],
  strict = true,
  pure = true,
): FunctionImpl {
  return { type, argTypes, fn, strict, pure };
}

function unary(types: readonly TypeId[], ok: (t: TypeId) => boolean): TypeId | undefined {
  if (types.length !== 1) return undefined;
  const t = numericKinds(types[0]!);
  return ok(t) ? t : undefined;
}

function roundDouble(x: number, halfEven: boolean): number {
  const r = Math.round(x);
  if (halfEven && Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return x < 0 && Math.abs(x % 1) === 0.5 ? r - 1 : r;
}

const mathFn =
  (f: (x: number) => number): Resolver =>
  (types) =>
    types.length === 1 && (isNumeric(types[0]!) || types[0] === 'unknown')
      ? impl('double', ['double'], ([x]) => f(x as number))
      : undefined;

const text1 =
  (f: (s: string) => Value, type: TypeId = 'text'): Resolver =>
  (types) =>
    types.length === 1 ? impl(type, ['text'], ([s]) => f(s as string)) : undefined;

const RESOLVERS: Record<string, Resolver> = {
  abs: (types) => {
    const t = unary(types, isNumeric);
    if (t === undefined) return undefined;
    return impl(t, [t], ([x]) => {
      if (t === 'integer') return checkInt4(Math.abs(x as number));
      if (t === 'bigint') return checkInt8((x as bigint) < 0n ? -(x as bigint) : (x as bigint));
      if (t === 'numeric') return (x as Decimal).sign() < 0 ? (x as Decimal).neg() : (x as Decimal);
      return Math.abs(x as number);
    });
  },
  round: (types) => {
    const t = numericKinds(types[0] ?? 'double');
    if (types.length === 2 || t === 'numeric') {
      return impl('numeric', types.length === 2 ? ['numeric', 'integer'] : ['numeric'], ([x, n]) =>
        (x as Decimal).withScale(Math.max(0, (n as number | undefined) ?? 0)),
      );
    }
    if (types.length !== 1 || !isNumeric(t)) return undefined;
    if (t === 'integer' || t === 'bigint') return impl(t, [t], ([x]) => x ?? null);
    return impl('double', ['double'], ([x]) => roundDouble(x as number, true));
  },
  floor: (types) => {
    const t = unary(types, isNumeric);
    if (t === undefined) return undefined;
    if (t === 'numeric') return impl(t, [t], ([x]) => new Decimal((x as Decimal).floor(), 0));
    if (t === 'integer' || t === 'bigint') return impl(t, [t], ([x]) => x ?? null);
    return impl('double', ['double'], ([x]) => Math.floor(x as number));
  },
  ceil: (types) => {
    const t = unary(types, isNumeric);
    if (t === undefined) return undefined;
    if (t === 'numeric') return impl(t, [t], ([x]) => new Decimal((x as Decimal).ceil(), 0));
    if (t === 'integer' || t === 'bigint') return impl(t, [t], ([x]) => x ?? null);
    return impl('double', ['double'], ([x]) => Math.ceil(x as number));
  },
  sqrt: mathFn((x) => {
    if (x < 0)
      throw new SqlError('ERR_SQL_INVALID_PARAMETER_VALUE', 'cannot take square root of a negative number');
    return Math.sqrt(x);
  }),
  exp: mathFn(Math.exp),
  ln: mathFn((x) => {
    if (x <= 0)
      throw new SqlError('ERR_SQL_INVALID_PARAMETER_VALUE', 'cannot take logarithm of a non-positive number');
    return Math.log(x);
  }),
  power: (types) =>
    types.length === 2
      ? impl('double', ['double', 'double'], ([a, b]) => (a as number) ** (b as number))
      : undefined,
  lower: text1((s) => s.toLowerCase()),
  upper: text1((s) => s.toUpperCase()),
  length: text1((s) => [...s].length, 'integer'),
  octet_length: text1((s) => Buffer.byteLength(s, 'utf8'), 'integer'),
  reverse: text1((s) => [...s].reverse().join('')),
  btrim: text1((s) => s.replace(/^ +| +$/g, '')),
  ltrim: text1((s) => s.replace(/^ +/, '')),
  rtrim: text1((s) => s.replace(/ +$/, '')),
  substr: (types) =>
    types.length === 2 || types.length === 3
      ? impl('text', ['text', 'integer', 'integer'], ([s, start, len]) =>
          substring(s as string, start as number, len as number | undefined),
        )
      : undefined,
  replace: (types) =>
    types.length === 3
      ? impl('text', ['text', 'text', 'text'], ([s, from, to]) =>
          from === '' ? (s as string) : (s as string).split(from as string).join(to as string),
        )
      : undefined,
  strpos: (types) =>
    types.length === 2
      ? impl('integer', ['text', 'text'], ([s, sub]) => {
          const at = (s as string).indexOf(sub as string);
          return at < 0 ? 0 : [...(s as string).slice(0, at)].length + 1;
        })
      : undefined,
  left: (types) =>
    types.length === 2
      ? impl('text', ['text', 'integer'], ([s, n]) => {
          const cs = [...(s as string)];
          return (n as number) >= 0
            ? cs.slice(0, n as number).join('')
            : cs.slice(0, cs.length + (n as number)).join('');
        })
      : undefined,
  right: (types) =>
    types.length === 2
      ? impl('text', ['text', 'integer'], ([s, n]) => {
          const cs = [...(s as string)];
          return (n as number) >= 0
            ? cs.slice(Math.max(0, cs.length - (n as number))).join('')
            : cs.slice(-(n as number)).join('');
        })
      : undefined,
  repeat: (types) =>
    types.length === 2
      ? impl('text', ['text', 'integer'], ([s, n]) => (s as string).repeat(Math.max(0, n as number)))
      : undefined,
  concat: (types) =>
    types.length >= 1
      ? impl(
          'text',
          types.map(() => 'text'),
          (args) => args.filter((a) => a !== null).join(''),
          false,
        )
      : undefined,
  now: (types) => (types.length === 0 ? impl('timestamp', [], (_a, now) => now, true, false) : undefined),
  random: (types) => (types.length === 0 ? impl('double', [], () => Math.random(), true, false) : undefined),
  date_trunc: (types) =>
    types.length === 2
      ? impl('timestamp', ['text', 'timestamp'], ([u, ts]) => truncateTimestamp(u as string, ts as bigint))
      : undefined,
};
RESOLVERS.ceiling = RESOLVERS.ceil!;
RESOLVERS.pow = RESOLVERS.power!;
RESOLVERS.char_length = RESOLVERS.length!;
RESOLVERS.character_length = RESOLVERS.length!;
RESOLVERS.substring = RESOLVERS.substr!;
RESOLVERS.trim = RESOLVERS.btrim!;
RESOLVERS.current_timestamp = RESOLVERS.now!;
RESOLVERS.localtimestamp = RESOLVERS.now!;

function substring(s: string, start: number, len: number | undefined): string {
  const cs = [...s];
  if (len !== undefined && len < 0)
    throw new SqlError('ERR_SQL_INVALID_PARAMETER_VALUE', 'negative substring length not allowed');
  const from = Math.max(1, start);
  const to = len === undefined ? cs.length + 1 : start + len;
  return to <= from ? '' : cs.slice(from - 1, to - 1).join('');
}

/** Names of the aggregate functions. */
export const AGGREGATES: ReadonlySet<string> = new Set(['count', 'sum', 'avg', 'min', 'max']);

/** Resolves a scalar function by name and argument types; 42883 when there is none. */
export function resolveFunction(name: string, types: readonly TypeId[]): FunctionImpl {
  const r = RESOLVERS[name];
  const found = r?.(types);
  if (found === undefined) {
    throw new SqlError(
      'ERR_SQL_UNDEFINED_FUNCTION',
      `function ${name}(${types.map((t) => typeLabel(t)).join(', ')}) does not exist`,
      { hint: r === undefined ? undefined : 'No function matches the given name and argument types.' },
    );
  }
  return found;
}
