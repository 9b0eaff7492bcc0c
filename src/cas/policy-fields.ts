/**
 * Typed readers over a {@link PolicySource}: each checks one value at one path and fails with
 * "`path`: expected …, got …". Split out of policy.ts to keep the policy rules readable.
 */
import { describeValue, didYouMean, type PathSegment, type PolicySource } from './policy-reader.ts';

export type Path = readonly PathSegment[];

/** Validates values of a policy document, failing with the path and the line/column. */
export class PolicyFields {
  readonly src: PolicySource;

  constructor(src: PolicySource) {
    this.src = src;
  }

  fail(path: Path, message: string, options?: { atKey?: boolean }): never {
    return this.src.fail(path, message, options);
  }

  /** A map whose keys are all in `allowed` (and include `required`). Unknown keys fail with a suggestion. */
  map(path: Path, value: unknown, allowed: readonly string[], required: readonly string[] = []) {
    const obj = this.anyMap(path, value);
    for (const key of Object.keys(obj)) {
      if (allowed.includes(key)) continue;
      const hint = didYouMean(key, allowed);
      const expected = hint ? `did you mean "${hint}"?` : `expected one of ${allowed.join(', ')}`;
      this.fail([...path, key], `unknown key "${key}"; ${expected}`, { atKey: true });
    }
    for (const key of required) {
      if (obj[key] === undefined) this.fail(path, `missing required key "${key}"`);
    }
    return obj;
  }

  /** A map with any keys (names chosen by the policy author). */
  anyMap(path: Path, value: unknown): Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
      this.fail(path, `expected a map, got ${describeValue(value)}`);
    }
    return value as Record<string, unknown>;
  }

  /** Keys of a map of named things, each matching `pattern` (`what` says which names are allowed). */
  names(path: Path, obj: Record<string, unknown>, pattern: RegExp, what: string): string[] {
    const keys = Object.keys(obj);
    for (const key of keys) {
      if (!pattern.test(key))
        this.fail([...path, key], `"${key}" is not a valid name: ${what}`, { atKey: true });
      // Assigning "__proto__" to a plain object would set its prototype instead of adding an entry.
      if (key === '__proto__') this.fail([...path, key], `"${key}" is a reserved name`, { atKey: true });
    }
    return keys;
  }

  list(path: Path, value: unknown, options: { nonEmpty?: boolean } = {}): unknown[] {
    if (!Array.isArray(value)) this.fail(path, `expected a list, got ${describeValue(value)}`);
    if (options.nonEmpty && value.length === 0) this.fail(path, 'expected a non-empty list');
    return value;
  }

  string(
    path: Path,
    value: unknown,
    options: { pattern?: RegExp; what?: string; max?: number } = {},
  ): string {
    const what = options.what ?? 'a string';
    if (typeof value !== 'string') this.fail(path, `expected ${what}, got ${describeValue(value)}`);
    if (value.length > (options.max ?? 100_000))
      this.fail(path, `expected ${what} of at most ${options.max} characters`);
    if (options.pattern && !options.pattern.test(value))
      this.fail(path, `expected ${what}, got ${describeValue(value)}`);
    return value;
  }

  int(path: Path, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, `expected an integer ${min}..${max}, got ${describeValue(value)}`);
    }
    return value;
  }

  bool(path: Path, value: unknown): boolean {
    if (typeof value !== 'boolean') this.fail(path, `expected true or false, got ${describeValue(value)}`);
    return value;
  }

  /** One of `options`, with a suggestion when close. */
  oneOf<T extends string>(path: Path, value: unknown, options: readonly T[]): T {
    if (typeof value === 'string' && (options as readonly string[]).includes(value)) return value as T;
    const hint = typeof value === 'string' ? didYouMean(value, options) : undefined;
    const suggestion = hint ? ` (did you mean "${hint}"?)` : '';
    return this.fail(path, `expected one of ${options.join(', ')}, got ${describeValue(value)}${suggestion}`);
  }

  /** Distinct members of `options`. */
  subset<T extends string>(path: Path, value: unknown, options: readonly T[], nonEmpty = true): T[] {
    const out: T[] = [];
    for (const [i, item] of this.list(path, value, { nonEmpty }).entries()) {
      const v = this.oneOf([...path, i], item, options);
      if (out.includes(v)) this.fail([...path, i], `"${v}" is listed twice`);
      out.push(v);
    }
    return out;
  }

  /**
   * Lower-case hex of one of the given digit counts. A YAML plain scalar of digits only (read as a
   * number) is taken from its source text, so `signer: 0000…` works unquoted.
   */
  hex(path: Path, value: unknown, digits: readonly number[]): string {
    const text = typeof value === 'number' ? this.src.plainSource(path) : value;
    const what = `${digits.join(' or ')} hex digits`;
    if (typeof text !== 'string' || !/^[0-9a-fA-F]*$/.test(text)) {
      this.fail(path, `expected ${what}, got ${describeValue(value)}`);
    }
    if (!digits.includes(text.length)) this.fail(path, `expected ${what}, got ${text.length} digits`);
    return text.toLowerCase();
  }

  /** `value`, or `fallback` when the key is absent. */
  optional<T>(value: unknown, fallback: T, read: (v: unknown) => T): T {
    return value === undefined ? fallback : read(value);
  }
}
