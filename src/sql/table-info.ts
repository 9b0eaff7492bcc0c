/**
 * Table descriptors (what the catalog stores) and their run-time layout: which row positions make
 * the primary key, how rows and index entries map to keys and values.
 */
import type { Expr } from './ast.ts';
import { KeyReader, readKeyValue } from './key-decoding.ts';
import { indexPrefix, KeyWriter, writeKeyValue } from './key-encoding.ts';
import type { ColumnType, Row, TypeId } from './types.ts';
import { decodeRow, encodeRow, type StoredColumn } from './value-encoding.ts';

const KEY_SCRATCH = new KeyWriter(256);

/** The index id of every table's primary index. */
export const PRIMARY_INDEX_ID = 1;

/** The catalog key of a table's descriptor: `int(1) int(1) text(name)` (see `catalog.ts`). */
export function descriptorKey(name: string): Uint8Array {
  const w = new KeyWriter(32, indexPrefix(1, 1));
  writeKeyValue(w, name, 'text');
  return w.finish();
}

export interface ColumnDesc {
  readonly id: number;
  readonly name: string;
  readonly type: ColumnType;
  readonly notNull: boolean;
  readonly default?: Expr | undefined;
  /** The hidden row id of a table declared without a primary key. */
  readonly hidden?: boolean | undefined;
}

export interface KeyColumnDesc {
  readonly columnId: number;
  readonly desc: boolean;
}

export interface IndexDesc {
  readonly id: number;
  readonly name: string;
  readonly unique: boolean;
  readonly columns: readonly KeyColumnDesc[];
}

/** What the catalog stores about a table. */
export interface TableDesc {
  readonly id: number;
  readonly name: string;
  readonly columns: readonly ColumnDesc[];
  readonly primaryKey: readonly KeyColumnDesc[];
  readonly primaryKeyName: string;
  readonly indexes: readonly IndexDesc[];
  readonly nextColumnId: number;
  readonly nextIndexId: number;
}

/** An index's key layout: row positions, types and directions of its columns. */
export interface KeyLayout {
  readonly id: number;
  readonly name: string;
  readonly unique: boolean;
  readonly primary: boolean;
  readonly positions: readonly number[];
  readonly types: readonly TypeId[];
  readonly desc: readonly boolean[];
  /** Whether each column may hold NULL (false for NOT NULL and primary key columns). */
  readonly nullable: readonly boolean[];
  readonly prefix: Uint8Array;
}

/** A table descriptor with its derived layout. Immutable; DDL makes a new one. */
export class TableInfo {
  readonly desc: TableDesc;
  readonly primary: KeyLayout;
  readonly indexes: readonly KeyLayout[];
  /** Whether any secondary index is UNIQUE (inserts must then look them up). */
  readonly hasUnique: boolean;
  readonly stored: readonly StoredColumn[];
  /** Where the catalog stores this table's descriptor. */
  readonly descriptorKey: Uint8Array;
  /** {@link descriptorKey} as a key string (latin1), what transactions record as read. */
  readonly descriptorKeyText: string;
  readonly #storedById: (StoredColumn | undefined)[] = [];
  readonly #positionById = new Map<number, number>();
  /** A row of NULLs to copy: cheaper than filling a new array. */
  readonly #nullRow: Row;

  constructor(desc: TableDesc) {
    this.desc = desc;
    this.descriptorKey = descriptorKey(desc.name);
    this.descriptorKeyText = Buffer.from(this.descriptorKey).toString('latin1');
    desc.columns.forEach((c, i) => {
      this.#positionById.set(c.id, i);
    });
    this.primary = this.#layout(PRIMARY_INDEX_ID, desc.primaryKeyName, true, true, desc.primaryKey);
    this.indexes = desc.indexes.map((ix) => this.#layout(ix.id, ix.name, ix.unique, false, ix.columns));
    this.hasUnique = this.indexes.some((i) => i.unique);
    const pk = new Set(this.primary.positions);
    this.stored = desc.columns
      .map((c, position) => ({ id: c.id, type: c.type.name, position }))
      .filter((c) => !pk.has(c.position));
    for (const c of this.stored) this.#storedById[c.id] = c;
    this.#nullRow = new Array(desc.columns.length).fill(null);
  }

  get id(): number {
    return this.desc.id;
  }

  get name(): string {
    return this.desc.name;
  }

  get columns(): readonly ColumnDesc[] {
    return this.desc.columns;
  }

  position(columnId: number): number {
    const p = this.#positionById.get(columnId);
    if (p === undefined) throw new Error(`column id ${columnId} not in table ${this.name}`);
    return p;
  }

  /** The position of a column by name, or -1. */
  positionOf(name: string): number {
    return this.desc.columns.findIndex((c) => c.name === name && c.hidden !== true);
  }

  #layout(
    id: number,
    name: string,
    unique: boolean,
    primary: boolean,
    cols: readonly KeyColumnDesc[],
  ): KeyLayout {
    const positions = cols.map((c) => this.position(c.columnId));
    const pkIds = new Set(this.desc.primaryKey.map((k) => k.columnId));
    return {
      id,
      name,
      unique,
      primary,
      positions,
      types: positions.map((p) => this.desc.columns[p]!.type.name),
      desc: cols.map((c) => c.desc),
      nullable: positions.map(
        (p) => !primary && !this.desc.columns[p]!.notNull && !pkIds.has(this.desc.columns[p]!.id),
      ),
      prefix: indexPrefix(this.desc.id, id),
    };
  }

  /** The primary key of a row. */
  primaryKey(row: Row): Uint8Array {
    const { prefix, positions, types, desc } = this.primary;
    // One writer for every key (keys are built synchronously): one allocation per key, its copy.
    const w = KEY_SCRATCH;
    w.reset(prefix);
    for (let i = 0; i < positions.length; i++) writeKeyValue(w, row[positions[i]!]!, types[i]!, desc[i]);
    return w.finish();
  }

  /** The key of a row's entry in a secondary index: the index columns, then the primary key columns. */
  indexKey(index: KeyLayout, row: Row): Uint8Array {
    const w = new KeyWriter(64, index.prefix);
    for (let i = 0; i < index.positions.length; i++) {
      writeKeyValue(w, row[index.positions[i]!]!, index.types[i]!, index.desc[i]);
    }
    const pk = this.primary;
    for (let i = 0; i < pk.positions.length; i++)
      writeKeyValue(w, row[pk.positions[i]!]!, pk.types[i]!, pk.desc[i]);
    return w.finish();
  }

  encodeValue(row: Row): Uint8Array {
    return encodeRow(this.stored, row);
  }

  /** Decodes a stored row from its primary key and value. */
  decode(key: Uint8Array, value: Uint8Array): Row {
    const row = this.#nullRow.slice();
    const r = new KeyReader(key, this.primary.prefix.length);
    const { positions, types, desc } = this.primary;
    for (let i = 0; i < positions.length; i++) row[positions[i]!] = readKeyValue(r, types[i]!, desc[i]);
    decodeRow(value, this.#storedById, row);
    return row;
  }

  /** Rebuilds the primary key from a secondary index entry's key. */
  primaryKeyFromIndex(index: KeyLayout, key: Uint8Array): Uint8Array {
    const r = new KeyReader(key, index.prefix.length);
    for (let i = 0; i < index.positions.length; i++) readKeyValue(r, index.types[i]!, index.desc[i]);
    const tail = key.subarray(r.pos);
    const out = new Uint8Array(this.primary.prefix.length + tail.length);
    out.set(this.primary.prefix);
    out.set(tail, this.primary.prefix.length);
    return out;
  }

  /** Decodes the index columns and primary key columns of an index entry into a partial row. */
  decodeIndexKey(index: KeyLayout, key: Uint8Array): Row {
    const row: Row = new Array(this.desc.columns.length).fill(null);
    const r = new KeyReader(key, index.prefix.length);
    for (let i = 0; i < index.positions.length; i++)
      row[index.positions[i]!] = readKeyValue(r, index.types[i]!, index.desc[i]);
    const pk = this.primary;
    for (let i = 0; i < pk.positions.length; i++)
      row[pk.positions[i]!] = readKeyValue(r, pk.types[i]!, pk.desc[i]);
    return row;
  }

  /** The layout of an index by id (1 is the primary key). */
  layout(indexId: number): KeyLayout | undefined {
    return indexId === PRIMARY_INDEX_ID ? this.primary : this.indexes.find((i) => i.id === indexId);
  }
}
