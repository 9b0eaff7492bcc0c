/**
 * The router's answers to subscriber requests (already opened and validated): subscribe (the filter
 * is parsed again here, inside the router, whatever the client checked), unsubscribe, heartbeat, bye.
 * Subscription keys in the matcher are `SESSION/ID`: the client's session id (64 hex characters) and
 * its own subscription id.
 */
import { isScbrError } from './errors.ts';
import { parseFilter } from './filter-parser.ts';
import type { Filter } from './filter-types.ts';
import type { SubscriptionMatcher } from './matcher.ts';
import type { Subscriber } from './router-subscribers.ts';
import type { ScbrReply, ScbrRequest } from './wire.ts';

/** What answering needs from the router. */
export interface RequestContext {
  readonly matcher: SubscriptionMatcher;
  readonly now: number;
  readonly maxSubscriptions: number;
}

/** The matcher key of a subscriber's subscription. */
export function subscriptionKey(sub: Subscriber, id: string): string {
  return `${sub.session.id}/${id}`;
}

/** Applies a request to the matcher and the subscriber, and says how it went. */
export function answerRequest(request: ScbrRequest, sub: Subscriber, ctx: RequestContext): ScbrReply {
  switch (request.kind) {
    case 'subscribe':
      return subscribe(request, sub, ctx);
    case 'unsubscribe': {
      const removed = ctx.matcher.remove(subscriptionKey(sub, request.id));
      sub.subscriptions.delete(request.id);
      if (removed) return { n: request.n, ok: true };
      return refused(request.n, 'ERR_SCBR_SUBSCRIPTION', `no subscription ${request.id}`);
    }
    case 'heartbeat':
    case 'bye':
      return { n: request.n, ok: true, subscriptions: sub.subscriptions.size };
  }
}

function subscribe(
  request: Extract<ScbrRequest, { kind: 'subscribe' }>,
  sub: Subscriber,
  ctx: RequestContext,
): ScbrReply {
  if (!sub.subscriptions.has(request.id) && sub.subscriptions.size >= ctx.maxSubscriptions) {
    return refused(
      request.n,
      'ERR_SCBR_SUBSCRIPTION',
      `at most ${ctx.maxSubscriptions} subscriptions per subscriber`,
    );
  }
  let filter: Filter;
  try {
    filter = parseFilter(request.filter);
  } catch (err) {
    if (!isScbrError(err)) throw err;
    const at = err.position === undefined ? {} : { line: err.position.line, column: err.position.column };
    return { n: request.n, ok: false, error: { code: err.code, message: err.message, ...at } };
  }
  const key = subscriptionKey(sub, request.id);
  ctx.matcher.remove(key);
  ctx.matcher.add(key, filter, request.ttlMs === undefined ? {} : { expiresAt: ctx.now + request.ttlMs });
  sub.subscriptions.add(request.id);
  return { n: request.n, ok: true };
}

function refused(n: number, code: string, message: string): ScbrReply {
  return { n, ok: false, error: { code, message } };
}
