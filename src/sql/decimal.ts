import { SqlError } from './errors.ts';

const NUMERIC_RE = /^\s*([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/;
const MAX_SCALE = 1000;
const POW10: bigint[] = [1n];

function pow10(n: number): bigint {
  while (POW10.length <= n) POW10.push(POW10[POW10.length - 1]! * 10n);
  return POW10[n]!;
}

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

/**
 * An exact decimal number, `coef / 10^scale`, the runtime value of SQL NUMERIC. Immutable. The
 * scale is kept as PostgreSQL does (`1.50` stays `1.50`); equality and ordering ignore it.
 */
export class Decimal {
  readonly coef: bigint;
  readonly scale: number;

  constructor(coef: bigint, scale: number) {
    this.coef = coef;
    this.scale = scale;
  }

  /** Parses `-12.50`, `1e3`, `.5`; throws 22P02 on anything else. */
  static parse(text: string): Decimal {
    const m = NUMERIC_RE.exec(text);
    if (m === null || (m[2] === '' && (m[3] === undefined || m[3] === ''))) {
      throw new SqlError('ERR_SQL_INVALID_TEXT', `invalid input syntax for type numeric: "${text}"`);
    }
    const frac = m[3] ?? '';
    let coef = BigInt((m[2] ?? '') + frac || '0');
    let scale = frac.length - Number(m[4] ?? 0);
    if (Math.abs(scale) > MAX_SCALE + 1000) {
      throw new SqlError('ERR_SQL_NUMERIC_OUT_OF_RANGE', `value out of range for type numeric: "${text}"`);
    }
    if (scale < 0) {
      coef *= pow10(-scale);
      scale = 0;
    }
    return new Decimal(m[1] === '-' ? -coef : coef, scale);
  }

  static fromBigInt(v: bigint): Decimal {
    return new Decimal(v, 0);
  }

  /** Exact conversion of a finite double (shortest round-trip text, as PostgreSQL's float8 → numeric). */
  static fromNumber(v: number): Decimal {
    if (!Number.isFinite(v)) {
      throw new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', `cannot convert ${v} to numeric`);
    }
    return Decimal.parse(String(v));
  }

  sign(): number {
    return this.coef < 0n ? -1 : this.coef > 0n ? 1 : 0;
  }

  /** The same value at another scale, rounding half away from zero when the scale shrinks. */
  withScale(scale: number): Decimal {
    if (scale === this.scale) return this;
    if (scale > this.scale) return new Decimal(this.coef * pow10(scale - this.scale), scale);
    const div = pow10(this.scale - scale);
    const q = this.coef / div;
    const r = abs(this.coef % div);
    const up = r * 2n >= div ? (this.coef < 0n ? -1n : 1n) : 0n;
    return new Decimal(q + up, scale);
  }

  /** Removes trailing fractional zeros: the canonical form used for hashing and keys. */
  normalize(): Decimal {
    let { coef, scale } = this;
    if (coef === 0n) return new Decimal(0n, 0);
    while (scale > 0 && coef % 10n === 0n) {
      coef /= 10n;
      scale--;
    }
    return scale === this.scale ? this : new Decimal(coef, scale);
  }

  compare(other: Decimal): number {
    const s = Math.max(this.scale, other.scale);
    const a = this.scale === s ? this.coef : this.coef * pow10(s - this.scale);
    const b = other.scale === s ? other.coef : other.coef * pow10(s - other.scale);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  add(other: Decimal): Decimal {
    const s = Math.max(this.scale, other.scale);
    return new Decimal(this.withScale(s).coef + other.withScale(s).coef, s);
  }

  sub(other: Decimal): Decimal {
    return this.add(other.neg());
  }

  neg(): Decimal {
    return new Decimal(-this.coef, this.scale);
  }

  mul(other: Decimal): Decimal {
    return new Decimal(this.coef * other.coef, this.scale + other.scale);
  }

  /** Division with PostgreSQL's result scale (at least 16 significant digits); 22012 on zero. */
  div(other: Decimal): Decimal {
    if (other.coef === 0n) throw new SqlError('ERR_SQL_DIVISION_BY_ZERO', 'division by zero');
    const rscale = divScale(this, other);
    return divide(this, other, rscale);
  }

  /** Remainder with the sign of the dividend, like PostgreSQL's numeric `%`. */
  mod(other: Decimal): Decimal {
    if (other.coef === 0n) throw new SqlError('ERR_SQL_DIVISION_BY_ZERO', 'division by zero');
    const s = Math.max(this.scale, other.scale);
    return new Decimal(this.withScale(s).coef % other.withScale(s).coef, s);
  }

  /** Truncates towards zero to an integer. */
  trunc(): bigint {
    return this.coef / pow10(this.scale);
  }

  /** Rounds half away from zero to an integer. */
  round(): bigint {
    return this.withScale(0).coef;
  }

  floor(): bigint {
    const t = this.trunc();
    return this.coef < 0n && new Decimal(t, 0).compare(this) !== 0 ? t - 1n : t;
  }

  ceil(): bigint {
    const t = this.trunc();
    return this.coef > 0n && new Decimal(t, 0).compare(this) !== 0 ? t + 1n : t;
  }

  toNumber(): number {
    return Number(this.toString());
  }

  /** Digits before the decimal point (0 for |x| < 1), for NUMERIC(p, s) precision checks. */
  integerDigits(): number {
    const int = abs(this.trunc());
    return int === 0n ? 0 : int.toString().length;
  }

  toString(): string {
    const neg = this.coef < 0n;
    let digits = abs(this.coef).toString();
    if (this.scale === 0) return neg ? `-${digits}` : digits;
    if (digits.length <= this.scale) digits = '0'.repeat(this.scale - digits.length + 1) + digits;
    const cut = digits.length - this.scale;
    return `${neg ? '-' : ''}${digits.slice(0, cut)}.${digits.slice(cut)}`;
  }
}

/** Weight (base-10000 exponent) and first base-10000 digit, as PostgreSQL's numeric stores them. */
function weightAndFirst(d: Decimal): [number, number] {
  const digits = abs(d.coef).toString();
  const e10 = digits.length - 1 - d.scale;
  const weight = Math.floor(e10 / 4);
  const take = e10 - weight * 4 + 1;
  return [weight, Number(digits.slice(0, take).padEnd(take, '0'))];
}

function divScale(a: Decimal, b: Decimal): number {
  let qweight = 0;
  if (a.coef !== 0n) {
    const [w1, f1] = weightAndFirst(a);
    const [w2, f2] = weightAndFirst(b);
    qweight = w1 - w2;
    if (f1 <= f2) qweight--;
  }
  let rscale = 16 - qweight * 4;
  rscale = Math.max(rscale, a.scale, b.scale, 0);
  return Math.min(rscale, MAX_SCALE);
}

function divide(a: Decimal, b: Decimal, rscale: number): Decimal {
  // a/b at rscale, rounded half away from zero: compute one extra digit, then round.
  const shift = rscale + 1 + b.scale - a.scale;
  let num = a.coef;
  let den = b.coef;
  if (shift >= 0) num *= pow10(shift);
  else den *= pow10(-shift);
  const q = num / den;
  return new Decimal(q, rscale + 1).withScale(rscale);
}

/** True when `value` is a {@link Decimal}. */
export function isDecimal(value: unknown): value is Decimal {
  return value instanceof Decimal;
}
