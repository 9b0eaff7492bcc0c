/**
 * Conversion of a filter tree to disjunctive normal form: `NOT` is pushed down to predicates (De
 * Morgan), `AND` is distributed over `OR`. Duplicate literals and conjunctions are removed, and a
 * conjunction holding a predicate and its negation is dropped. A filter that would expand to more
 * than `FILTER_LIMITS.maxConjunctions` AND-terms is refused, before the expansion happens.
 */
import { ScbrError } from './errors.ts';
import { conjunctionKey, literalKey } from './filter-format.ts';
import { type Conjunction, type Dnf, FILTER_LIMITS, type FilterNode, type Literal } from './filter-types.ts';

/** The DNF of a filter tree. Throws `ERR_SCBR_FILTER_LIMIT` when it has too many AND-terms. */
export function toDnf(node: FilterNode): Dnf {
  return dedupe(dnfOf(node, false));
}

function dnfOf(node: FilterNode, negated: boolean): Conjunction[] {
  switch (node.kind) {
    case 'constant':
      return node.value !== negated ? [[]] : [];
    case 'predicate':
      return [[{ predicate: node.predicate, negated }]];
    case 'not':
      return dnfOf(node.child, !negated);
    case 'and':
    case 'or': {
      const parts = node.children.map((c) => dnfOf(c, negated));
      // AND, or a negated OR (De Morgan), multiplies; OR, or a negated AND, concatenates.
      return (node.kind === 'and') !== negated ? parts.reduce(product) : concat(parts);
    }
  }
}

function concat(parts: Conjunction[][]): Conjunction[] {
  const out = parts.flat();
  checkSize(out.length);
  return out;
}

function product(a: Conjunction[], b: Conjunction[]): Conjunction[] {
  checkSize(a.length * b.length);
  const out: Conjunction[] = [];
  for (const x of a) {
    for (const y of b) {
      const merged = mergeConjunctions(x, y);
      if (merged !== null) out.push(merged);
    }
  }
  return out;
}

/** x AND y, without duplicate literals; null when it holds a predicate and its negation. */
function mergeConjunctions(x: Conjunction, y: Conjunction): Conjunction | null {
  const byKey = new Map<string, Literal>();
  for (const l of [...x, ...y]) byKey.set(literalKey(l), l);
  for (const key of byKey.keys()) {
    if (!key.startsWith('!') && byKey.has(`!${key}`)) return null;
  }
  return [...byKey.values()];
}

function dedupe(dnf: Conjunction[]): Dnf {
  const seen = new Map<string, Conjunction>();
  for (const c of dnf) {
    const clean = mergeConjunctions(c, []);
    if (clean === null) continue;
    // An empty conjunction is TRUE: the whole filter is TRUE.
    if (clean.length === 0) return [[]];
    seen.set(conjunctionKey(clean), clean);
  }
  return [...seen.values()];
}

function checkSize(n: number): void {
  if (n > FILTER_LIMITS.maxConjunctions) {
    throw new ScbrError(
      'ERR_SCBR_FILTER_LIMIT',
      `the filter expands to more than ${FILTER_LIMITS.maxConjunctions} AND-terms in disjunctive normal form; split it into several subscriptions or use IN {…} sets instead of ORs of equalities`,
      { detail: { limit: FILTER_LIMITS.maxConjunctions } },
    );
  }
}
