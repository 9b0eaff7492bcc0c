/**
 * A scope of reads (a transaction) in which reading the same data again may give what an earlier
 * read of the scope verified, instead of reading the storage again: repeatable reads, and fewer
 * checks. The secure store keeps the last block a scope read; other engines ignore scopes. A
 * change made to the storage behind the store's back after the scope's read (tampering) is then
 * detected by the next scope that reads it, not by this one.
 */
export class ReadScope {
  // One owner (engine) is the common case: no map for it.
  #owner: object | undefined;
  #state: unknown;
  #others: Map<object, unknown> | undefined;

  /** The state `owner` (an engine) keeps in this scope, made by `init` on first use. */
  stateFor<T>(owner: object, init: () => T): T {
    if (this.#owner === owner) return this.#state as T;
    if (this.#owner === undefined) {
      this.#owner = owner;
      this.#state = init();
      return this.#state as T;
    }
    this.#others ??= new Map();
    let state = this.#others.get(owner) as T | undefined;
    if (state === undefined) {
      state = init();
      this.#others.set(owner, state);
    }
    return state;
  }
}
