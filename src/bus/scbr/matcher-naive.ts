/**
 * The reference matcher: evaluates every subscription's filter tree against each header, in time
 * linear in the number of subscriptions. The index matcher is tested against it.
 */
import { ExpiryQueue } from './expiry-queue.ts';
import { evaluateFilter } from './filter-eval.ts';
import type { Filter, Header } from './filter-types.ts';
import type { AddSubscriptionOptions, SubscriptionMatcher } from './matcher.ts';

/**
 * A matcher that tests every filter in turn.
 *
 * @example
 * const m = createNaiveMatcher();
 * m.add('s1', parseFilter('demand > 5'));
 * m.match(toHeader({ demand: 7 })); // ['s1']
 */
export function createNaiveMatcher(): SubscriptionMatcher {
  const filters = new Map<string, Filter>();
  const expiry = new ExpiryQueue();
  return {
    get size() {
      return filters.size;
    },
    add(id: string, filter: Filter, options: AddSubscriptionOptions = {}) {
      if (filters.has(id)) throw new TypeError(`subscription ${id} already exists`);
      filters.set(id, filter);
      if (options.expiresAt !== undefined) expiry.set(id, options.expiresAt);
    },
    remove(id: string) {
      expiry.delete(id);
      return filters.delete(id);
    },
    has: (id: string) => filters.has(id),
    setExpiry(id: string, expiresAt: number | undefined) {
      if (!filters.has(id)) return false;
      if (expiresAt === undefined) expiry.delete(id);
      else expiry.set(id, expiresAt);
      return true;
    },
    match(header: Header) {
      const out: string[] = [];
      for (const [id, filter] of filters) if (evaluateFilter(filter.root, header)) out.push(id);
      return out;
    },
    expire(now: number) {
      const ids = expiry.popExpired(now);
      for (const id of ids) filters.delete(id);
      return ids;
    },
  };
}
