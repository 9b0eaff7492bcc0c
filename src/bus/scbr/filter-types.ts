/**
 * The types of the subscription filter language: typed attribute values, predicates, the filter tree
 * and its disjunctive normal form. Produced by `parseFilter` (filter-parser.ts), consumed by the
 * matchers. Reference: docs/bus.md, "The filter language".
 */

/** The four attribute types. Timestamps are instants with millisecond precision. */
export type AttributeType = 'number' | 'string' | 'boolean' | 'timestamp';

/** An attribute value as callers write it: `Date` for timestamps. */
export type AttributeValue = number | string | boolean | Date;

/** Publication attributes as callers write them. */
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** A typed scalar. Timestamps are milliseconds since the Unix epoch, so they compare as numbers. */
export type TypedValue =
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: 'timestamp'; readonly value: number };

/** A publication header after validation: attribute name → typed value. */
export type Header = ReadonlyMap<string, TypedValue>;

/** Comparison operators. `!=` needs the attribute present with the same type (see `NOT`). */
export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** `attribute OP value`. */
export interface ComparePredicate {
  readonly kind: 'compare';
  readonly attribute: string;
  readonly type: AttributeType;
  readonly op: ComparisonOp;
  readonly value: TypedValue;
}

/** `attribute BETWEEN low AND high` (both ends included) or `attribute IN [low, high)` and friends. */
export interface RangePredicate {
  readonly kind: 'range';
  readonly attribute: string;
  readonly type: AttributeType;
  readonly low: TypedValue;
  readonly high: TypedValue;
  readonly lowInclusive: boolean;
  readonly highInclusive: boolean;
}

/** `attribute ^= "text"` or `attribute STARTS WITH "text"`: a string attribute beginning with `prefix`. */
export interface PrefixPredicate {
  readonly kind: 'prefix';
  readonly attribute: string;
  readonly type: 'string';
  readonly prefix: string;
}

/** `attribute IN {v1, v2, …}`: equal to one of the values (all of one type, without duplicates). */
export interface SetPredicate {
  readonly kind: 'in';
  readonly attribute: string;
  readonly type: AttributeType;
  readonly values: readonly TypedValue[];
}

/** One test of one attribute. False when the attribute is absent or of another type. */
export type Predicate = ComparePredicate | RangePredicate | PrefixPredicate | SetPredicate;

/** The filter tree. `constant` is `TRUE` or `FALSE`. */
export type FilterNode =
  | { readonly kind: 'and'; readonly children: readonly FilterNode[] }
  | { readonly kind: 'or'; readonly children: readonly FilterNode[] }
  | { readonly kind: 'not'; readonly child: FilterNode }
  | { readonly kind: 'predicate'; readonly predicate: Predicate }
  | { readonly kind: 'constant'; readonly value: boolean };

/** A predicate or its negation, inside a conjunction of the DNF. */
export interface Literal {
  readonly predicate: Predicate;
  readonly negated: boolean;
}

/** AND of literals; the empty conjunction is true. */
export type Conjunction = readonly Literal[];

/** OR of conjunctions; the empty disjunction is false. */
export type Dnf = readonly Conjunction[];

/** A parsed, type-checked filter. Immutable. */
export interface Filter {
  /** The text it was parsed from. */
  readonly text: string;
  readonly root: FilterNode;
  /** The same filter in disjunctive normal form (what the index matcher stores). */
  readonly dnf: Dnf;
  /** Every attribute the filter tests, with the type it is compared as. */
  readonly attributes: ReadonlyMap<string, AttributeType>;
}

/** Limits of the filter language (and of publication headers). */
export const FILTER_LIMITS = {
  /** Characters of filter text. */
  maxTextLength: 4096,
  /** Nesting of parentheses and `NOT`. */
  maxDepth: 32,
  /** Predicates in one filter. */
  maxPredicates: 128,
  /** Values in one `IN {…}` set. */
  maxSetSize: 256,
  /** AND-terms after conversion to disjunctive normal form. */
  maxConjunctions: 256,
  /** Characters of an attribute name. */
  maxNameLength: 64,
  /** Characters of a string literal or string attribute value. */
  maxStringLength: 1024,
  /** Attributes in one publication header. */
  maxAttributes: 64,
} as const;

/** Attribute names: a letter or `_`, then letters, digits, `_` and `.` (e.g. `meter.region`). */
export const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** Words that cannot be attribute names (compared case-insensitively). */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
  'AND',
  'OR',
  'NOT',
  'IN',
  'BETWEEN',
  'STARTS',
  'WITH',
  'TRUE',
  'FALSE',
]);
