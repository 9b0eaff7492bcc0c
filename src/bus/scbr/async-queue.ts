/**
 * A bounded single-consumer queue exposed as an async iterator: `push` never waits (it drops and
 * counts when full), `next` waits for an item or the end.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  readonly #items: T[] = [];
  readonly #limit: number;
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  #ended = false;
  /** Items refused because the queue was full. */
  dropped = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get length(): number {
    return this.#items.length;
  }

  /** Adds an item; false when full or ended. */
  push(item: T): boolean {
    if (this.#ended) return false;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter({ value: item, done: false });
      return true;
    }
    if (this.#items.length >= this.#limit) {
      this.dropped++;
      return false;
    }
    this.#items.push(item);
    return true;
  }

  /** Ends iteration once the queued items are consumed. */
  end(): void {
    this.#ended = true;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) return Promise.resolve({ value: this.#items.shift() as T, done: false });
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== undefined)
      return Promise.reject(new TypeError('only one consumer may wait on this queue'));
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    this.#items.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
