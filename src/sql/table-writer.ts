/**
 * Writes rows of one table inside a transaction: the primary row, every index entry, and the
 * NOT NULL and UNIQUE checks (unique constraints are checked through index lookups, 23505).
 */
import { valueToText } from './cast.ts';
import { SqlError } from './errors.ts';
import { KeyWriter, prefixEnd, writeKeyValue } from './key-encoding.ts';
import type { KeyLayout, TableInfo } from './table-info.ts';
import type { KeyString, Txn } from './txn.ts';
import { compareBytes, type Row } from './types.ts';

const EMPTY = new Uint8Array(0);

/** A unique constraint a row would violate: which one, and the primary key of the row it collides with. */
export interface Conflict {
  readonly index: KeyLayout;
  readonly existingKey: Uint8Array;
}

function describeKey(table: TableInfo, index: KeyLayout, row: Row): string {
  const names = index.positions.map((p) => table.columns[p]!.name).join(', ');
  const values = index.positions
    .map((p, i) => (row[p] === null ? 'null' : valueToText(row[p]!, index.types[i]!)))
    .join(', ');
  return `Key (${names})=(${values}) already exists.`;
}

export function uniqueViolation(table: TableInfo, index: KeyLayout, row: Row): SqlError {
  return new SqlError(
    'ERR_SQL_UNIQUE_VIOLATION',
    `duplicate key value violates unique constraint "${index.name}"`,
    {
      detail: describeKey(table, index, row),
    },
  );
}

export class TableWriter {
  readonly table: TableInfo;
  readonly #txn: Txn;
  readonly #signal: AbortSignal | undefined;

  constructor(table: TableInfo, txn: Txn, signal: AbortSignal | undefined) {
    this.table = table;
    this.#txn = txn;
    this.#signal = signal;
  }

  /** 23502 when a NOT NULL (or primary key) column is NULL. */
  checkNotNull(row: Row): void {
    const { columns } = this.table;
    const pk = this.table.primary.positions;
    for (let i = 0; i < columns.length; i++) {
      if (row[i] !== null) continue;
      const c = columns[i]!;
      if (c.notNull || pk.includes(i)) {
        throw new SqlError(
          'ERR_SQL_NOT_NULL_VIOLATION',
          `null value in column "${c.name}" of relation "${this.table.name}" violates not-null constraint`,
        );
      }
    }
  }

  /**
   * The unique constraint `row` would violate and the primary key of the row it collides with:
   * the primary key (unless `self`, the row's own key, is given: an update in place), then every
   * unique index (entries of `self` itself excepted). `only` restricts the check to one constraint.
   */
  async findConflict(
    row: Row,
    self?: Uint8Array,
    only?: KeyLayout,
    key?: Uint8Array,
    keyStr?: KeyString,
  ): Promise<Conflict | undefined> {
    const { table } = this;
    if (self === undefined && (only === undefined || only.primary)) {
      const k = key ?? table.primaryKey(row);
      if ((await this.#txn.get(k, this.#signal, keyStr)) !== undefined)
        return { index: table.primary, existingKey: k };
    }
    if (!table.hasUnique) return undefined;
    for (const index of table.indexes) {
      if (!index.unique || (only !== undefined && only !== index)) continue;
      if (index.positions.some((p) => row[p] === null)) continue;
      const w = new KeyWriter(64, index.prefix);
      for (let i = 0; i < index.positions.length; i++)
        writeKeyValue(w, row[index.positions[i]!]!, index.types[i]!, index.desc[i]);
      const prefix = w.finish();
      for await (const kv of this.#txn.scan(
        { start: prefix, end: prefixEnd(prefix), limit: 2 },
        this.#signal,
      )) {
        const existing = table.primaryKeyFromIndex(index, kv.key);
        if (self === undefined || compareBytes(existing, self) !== 0) return { index, existingKey: existing };
      }
    }
    return undefined;
  }

  /** Reads a row by primary key. */
  async read(key: Uint8Array): Promise<Row | undefined> {
    const v = await this.#txn.get(key, this.#signal);
    return v === undefined ? undefined : this.table.decode(key, v);
  }

  /** Writes a new row (constraints already checked by the caller through {@link findConflict}). */
  insert(row: Row, key: Uint8Array = this.table.primaryKey(row), keyStr?: KeyString): Uint8Array {
    this.#txn.put(key, this.table.encodeValue(row), keyStr);
    for (const index of this.table.indexes) this.#txn.put(this.table.indexKey(index, row), EMPTY);
    return key;
  }

  /** Replaces `old` by `row`, moving it if its primary key changed; 23505 on a unique conflict. */
  async update(old: Row, row: Row): Promise<Uint8Array> {
    const { table } = this;
    this.checkNotNull(row);
    const oldKey = table.primaryKey(old);
    const newKey = table.primaryKey(row);
    const moved = compareBytes(oldKey, newKey) !== 0;
    for (const index of table.indexes) {
      const before = table.indexKey(index, old);
      const after = table.indexKey(index, row);
      if (compareBytes(before, after) !== 0) this.#txn.delete(before);
    }
    if (moved) {
      this.#txn.delete(oldKey);
      if ((await this.#txn.get(newKey, this.#signal)) !== undefined)
        throw uniqueViolation(table, table.primary, row);
    }
    const conflict = await this.findConflict(row, newKey);
    if (conflict !== undefined) throw uniqueViolation(table, conflict.index, row);
    this.#txn.put(newKey, table.encodeValue(row));
    for (const index of table.indexes) this.#txn.put(table.indexKey(index, row), EMPTY);
    return newKey;
  }

  delete(row: Row): void {
    this.#txn.delete(this.table.primaryKey(row));
    for (const index of this.table.indexes) this.#txn.delete(this.table.indexKey(index, row));
  }
}
