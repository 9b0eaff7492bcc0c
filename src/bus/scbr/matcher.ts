/**
 * The matcher plugin point: a set of subscriptions (id → filter) that answers "which subscriptions
 * does this header match?". `createNaiveMatcher` is the reference; `createIndexMatcher` is the one the
 * router uses. Both pass the same contract tests.
 */
import type { Filter, Header } from './filter-types.ts';

/** Options of {@link SubscriptionMatcher.add}. */
export interface AddSubscriptionOptions {
  /** When the subscription lapses, in milliseconds since the epoch (see {@link SubscriptionMatcher.expire}). */
  readonly expiresAt?: number;
}

/** A set of subscriptions that matches headers. Not safe for concurrent use (one event loop). */
export interface SubscriptionMatcher {
  /** Number of subscriptions held. */
  readonly size: number;
  /** Adds a subscription; a `TypeError` when `id` is already present. */
  add(id: string, filter: Filter, options?: AddSubscriptionOptions): void;
  /** Removes a subscription; false when there was none with that id. */
  remove(id: string): boolean;
  has(id: string): boolean;
  /** Sets or clears a subscription's expiry time (a heartbeat). False when there is no such id. */
  setExpiry(id: string, expiresAt: number | undefined): boolean;
  /** Ids of the subscriptions `header` matches, each once, in no particular order. */
  match(header: Header): string[];
  /** Removes the subscriptions whose expiry time is at or before `now`; returns their ids. */
  expire(now: number): string[];
}
