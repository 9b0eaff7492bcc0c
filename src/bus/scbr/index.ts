/**
 * Secure Content-Based Routing: the subscription filter language, the matchers, the envelopes that
 * keep headers and subscriptions readable only inside the attested router and payloads only by the
 * group, the router service and the client library. Reference: docs/bus.md, "The filter language"
 * and "SCBR".
 */
export {
  createScbrPublisher,
  type PublishOptions,
  type ScbrPublisher,
  type ScbrPublisherOptions,
} from './client.ts';
export { ClientSession, ENVELOPE_VERSION, RouterSession, RouterSessions } from './envelope.ts';
export {
  type FilterPosition,
  isScbrError,
  SCBR_ERROR_CODES,
  ScbrError,
  type ScbrErrorCode,
} from './errors.ts';
export { evaluateFilter, evaluatePredicate } from './filter-eval.ts';
export { formatFilter, formatPredicate } from './filter-format.ts';
export { type ParseFilterOptions, parseFilter } from './filter-parser.ts';
export {
  type Attributes,
  type AttributeType,
  type AttributeValue,
  type ComparisonOp,
  type Conjunction,
  type Dnf,
  FILTER_LIMITS,
  type Filter,
  type FilterNode,
  type Header,
  type Literal,
  type Predicate,
  type TypedValue,
} from './filter-types.ts';
export { fromHeader, parseTimestamp, toHeader } from './filter-values.ts';
export { decodeHeader, encodeHeader } from './header-codec.ts';
export type { AddSubscriptionOptions, SubscriptionMatcher } from './matcher.ts';
export { createIndexMatcher, type IndexMatcher, type IndexMatcherStats } from './matcher-index.ts';
export { createNaiveMatcher } from './matcher-naive.ts';
export {
  GroupKey,
  type OpenedPayload,
  PayloadOpener,
  type PayloadOpenerOptions,
  PayloadSealer,
} from './payload-seal.ts';
export { type ReplayVerdict, ReplayWindow } from './replay-window.ts';
export { createScbrRouter, type ScbrRouter, type ScbrRouterOptions, type ScbrRouterStats } from './router.ts';
export {
  ROUTER_KEY_VALID_MS,
  RouterKey,
  type RouterSigner,
  type VerifiedRouterKey,
  type VerifyRouterOptions,
  verifyRouterAnnouncement,
} from './router-key.ts';
export type { RouterLinkOptions } from './router-link.ts';
export {
  createScbrSubscriber,
  type ScbrMessage,
  type ScbrSubscriber,
  type ScbrSubscriberOptions,
  type ScbrSubscriberStats,
  type ScbrSubscription,
  type SubscribeOptions,
} from './subscriber.ts';
export { DEFAULT_SCBR_SPACE, SCBR_CHANNELS } from './wire.ts';
