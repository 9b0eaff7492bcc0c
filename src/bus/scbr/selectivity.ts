/**
 * Selectivity estimates for choosing access predicates, from the subscription population alone
 * (the index sees subscriptions before publications): per attribute and type, how many distinct
 * values the filters name and the span of their numeric bounds. An equality on an attribute with
 * many distinct values is selective (a meter id), one with few is not (a phase); a range is as
 * selective as its width is small against the span. Estimates guide clustering only; matching is
 * exact whatever they say.
 */
import type { Predicate, TypedValue } from './filter-types.ts';

/** The values one attribute's predicates name. */
export class SelectivityStats {
  readonly #values = new Map<TypedValue['value'], number>();
  #min = Number.POSITIVE_INFINITY;
  #max = Number.NEGATIVE_INFINITY;

  /** True when no predicate names a value any more. */
  get empty(): boolean {
    return this.#values.size === 0;
  }

  /** Counts (`delta` 1) or forgets (-1) the values a predicate names. */
  note(p: Predicate, delta: 1 | -1): void {
    for (const v of valuesOf(p)) {
      const n = (this.#values.get(v) ?? 0) + delta;
      if (n <= 0) this.#values.delete(v);
      else this.#values.set(v, n);
      // The span only grows: a stale bound makes estimates a little coarse, never wrong.
      if (typeof v === 'number') {
        this.#min = Math.min(this.#min, v);
        this.#max = Math.max(this.#max, v);
      }
    }
  }

  /** The estimated share of publications carrying the attribute that satisfy `p`, in (0, 1]. */
  estimate(p: Predicate): number {
    const distinct = Math.max(2, this.#values.size);
    switch (p.kind) {
      case 'in':
        return Math.min(1, p.values.length / distinct);
      case 'prefix':
        return Math.max(1 / distinct, 4 ** -p.prefix.length);
      case 'range':
        return this.#fraction(p.low.value, p.high.value, 0.25);
      case 'compare':
        if (p.op === '=') return 1 / distinct;
        if (p.op === '!=') return 1 - 1 / distinct;
        if (typeof p.value.value !== 'number') return 0.5;
        return p.op === '<' || p.op === '<='
          ? this.#fraction(this.#min, p.value.value, 0.5)
          : this.#fraction(p.value.value, this.#max, 0.5);
    }
  }

  #fraction(low: TypedValue['value'], high: TypedValue['value'], otherwise: number): number {
    const span = this.#max - this.#min;
    if (typeof low !== 'number' || typeof high !== 'number' || !(span > 0)) return otherwise;
    return Math.min(1, Math.max(1e-6, (high - low) / span));
  }
}

function valuesOf(p: Predicate): TypedValue['value'][] {
  switch (p.kind) {
    case 'compare':
      return [p.value.value];
    case 'in':
      return p.values.map((v) => v.value);
    case 'range':
      return [p.low.value, p.high.value];
    case 'prefix':
      return [p.prefix];
  }
}
