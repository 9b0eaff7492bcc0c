/**
 * Writes filters back as text in a canonical form (`parseFilter(formatFilter(f.root))` gives the same
 * tree), and the canonical keys the index uses to share equal predicates and equal filters.
 */
import type { Conjunction, Dnf, FilterNode, Literal, Predicate } from './filter-types.ts';
import { formatValue } from './filter-values.ts';

/** One predicate in filter syntax: `demand > 5`, `at IN [@…, @…)`, `region IN {"north", "south"}`. */
export function formatPredicate(p: Predicate): string {
  switch (p.kind) {
    case 'compare':
      return `${p.attribute} ${p.op} ${formatValue(p.value)}`;
    case 'prefix':
      return `${p.attribute} ^= ${JSON.stringify(p.prefix)}`;
    case 'in':
      return `${p.attribute} IN {${p.values.map(formatValue).join(', ')}}`;
    case 'range':
      if (p.lowInclusive && p.highInclusive) {
        return `${p.attribute} BETWEEN ${formatValue(p.low)} AND ${formatValue(p.high)}`;
      }
      return `${p.attribute} IN ${p.lowInclusive ? '[' : '('}${formatValue(p.low)}, ${formatValue(p.high)}${p.highInclusive ? ']' : ')'}`;
  }
}

/** A filter tree in filter syntax, with parentheses only where precedence needs them. */
export function formatFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'constant':
      return node.value ? 'TRUE' : 'FALSE';
    case 'predicate':
      return formatPredicate(node.predicate);
    case 'not':
      return `NOT ${wrap(node.child, node.child.kind === 'and' || node.child.kind === 'or' || isBetween(node.child))}`;
    case 'and':
      return node.children.map((c) => wrap(c, c.kind === 'or')).join(' AND ');
    case 'or':
      return node.children.map((c) => formatFilter(c)).join(' OR ');
  }
}

// `NOT x BETWEEN 1 AND 2` would parse as (NOT x BETWEEN 1) AND 2 for a reader; keep it explicit.
function isBetween(node: FilterNode): boolean {
  return node.kind === 'predicate' && node.predicate.kind === 'range';
}

function wrap(node: FilterNode, parens: boolean): string {
  const text = formatFilter(node);
  return parens ? `(${text})` : text;
}

/** The key of a predicate: equal keys mean equal predicates (typed: `x = 1` and `x = "1"` differ). */
export function predicateKey(p: Predicate): string {
  return `${p.type}:${formatPredicate(p)}`;
}

/** The key of a literal. */
export function literalKey(l: Literal): string {
  return l.negated ? `!${predicateKey(l.predicate)}` : predicateKey(l.predicate);
}

/** The key of a conjunction, independent of literal order. */
export function conjunctionKey(c: Conjunction): string {
  return c.map(literalKey).sort().join('\u0000');
}

/** The key of a DNF, independent of the order of literals and conjunctions: equal keys, equal filters. */
export function dnfKey(dnf: Dnf): string {
  // Conjunctions are bracketed so that FALSE (no conjunction) and TRUE (one empty one) differ.
  return dnf
    .map((c) => `(${conjunctionKey(c)})`)
    .sort()
    .join('\u0001');
}
