/**
 * Direct evaluation of a filter tree against a header: the reference semantics of the language,
 * used by the naive matcher and by subscribers that re-check what the router delivers.
 */
import type { FilterNode, Header, Predicate, TypedValue } from './filter-types.ts';

/** Whether `header` satisfies `node`. A predicate on an absent attribute, or one of another type, is false. */
export function evaluateFilter(node: FilterNode, header: Header): boolean {
  switch (node.kind) {
    case 'constant':
      return node.value;
    case 'predicate':
      return evaluatePredicate(node.predicate, header);
    case 'not':
      return !evaluateFilter(node.child, header);
    case 'and':
      return node.children.every((c) => evaluateFilter(c, header));
    case 'or':
      return node.children.some((c) => evaluateFilter(c, header));
  }
}

/** Whether `header` satisfies one predicate. */
export function evaluatePredicate(p: Predicate, header: Header): boolean {
  const v = header.get(p.attribute);
  if (v === undefined || v.type !== p.type) return false;
  return testValue(p, v.value);
}

/** Whether a value of the predicate's type satisfies it. */
export function testValue(p: Predicate, x: TypedValue['value']): boolean {
  switch (p.kind) {
    case 'compare': {
      const y = p.value.value;
      switch (p.op) {
        case '=':
          return x === y;
        case '!=':
          return x !== y;
        case '<':
          return x < y;
        case '<=':
          return x <= y;
        case '>':
          return x > y;
        case '>=':
          return x >= y;
      }
      return false;
    }
    case 'range':
      return (
        (p.lowInclusive ? x >= p.low.value : x > p.low.value) &&
        (p.highInclusive ? x <= p.high.value : x < p.high.value)
      );
    case 'prefix':
      return (x as string).startsWith(p.prefix);
    case 'in':
      return p.values.some((v) => v.value === x);
  }
}
