import type { SqlTypeName, TypeName } from './ast.ts';
import { SqlError } from './errors.ts';
import type { Token } from './lexer.ts';
import { TokenCursor } from './parser-base.ts';

/** Simple spellings and the canonical type they name. `smallint` widens to `integer` (documented). */
const SIMPLE_TYPES: Readonly<Record<string, SqlTypeName>> = {
  int: 'integer',
  integer: 'integer',
  int4: 'integer',
  smallint: 'integer',
  int2: 'integer',
  bigint: 'bigint',
  int8: 'bigint',
  real: 'real',
  float4: 'real',
  float8: 'double',
  text: 'text',
  boolean: 'boolean',
  bool: 'boolean',
  bytea: 'bytea',
};

/** Types PostgreSQL has and CascaDB does not: named in a 0A000 error rather than "does not exist". */
const KNOWN_UNSUPPORTED = new Set([
  'date',
  'time',
  'timetz',
  'timestamptz',
  'interval',
  'json',
  'jsonb',
  'uuid',
  'serial',
  'serial4',
  'serial8',
  'bigserial',
  'smallserial',
  'money',
  'inet',
  'cidr',
  'macaddr',
  'xml',
  'bit',
  'varbit',
  'oid',
  'point',
  'tinyint',
  'hugeint',
  'blob',
  'datetime',
  'tsvector',
  'name',
]);

/** Largest VARCHAR length, as in PostgreSQL. */
const MAX_VARCHAR_LENGTH = 10_485_760;

/** Largest NUMERIC precision, as in PostgreSQL. */
const MAX_NUMERIC_PRECISION = 1000;

/** Words that can start a type name (for typed literals such as `TIMESTAMP '…'`). */
export const TYPE_START_WORDS: ReadonlySet<string> = new Set([
  ...Object.keys(SIMPLE_TYPES),
  'double',
  'float',
  'numeric',
  'decimal',
  'dec',
  'varchar',
  'character',
  'char',
  'timestamp',
  ...KNOWN_UNSUPPORTED,
]);

/** Parses type names into canonical {@link TypeName}s. */
export class TypeParser extends TokenCursor {
  /** `INTEGER`, `DOUBLE PRECISION`, `NUMERIC(10, 2)`, `VARCHAR(20)`, `TIMESTAMP [WITHOUT TIME ZONE]`, … */
  protected parseType(): TypeName {
    const tok = this.peek();
    if (tok.type !== 'word') throw this.error('a type name');
    this.index++;
    const type = this.#typeBody(tok);
    if (this.isOp('[') || this.isWord('array')) throw this.unsupported('array types');
    return type;
  }

  #typeBody(tok: Token): TypeName {
    const pos = tok.pos;
    const word = tok.value;
    const simple = SIMPLE_TYPES[word];
    if (simple !== undefined)
      return { kind: 'TypeName', pos, name: simple, precision: undefined, scale: undefined };
    switch (word) {
      case 'double':
        this.acceptWord('precision');
        return { kind: 'TypeName', pos, name: 'double', precision: undefined, scale: undefined };
      case 'float':
        return this.#float(tok);
      case 'numeric':
      case 'decimal':
      case 'dec':
        return this.#numeric(tok);
      case 'varchar':
        return this.#varchar(tok);
      case 'character':
      case 'char':
        if (this.acceptWord('varying')) return this.#varchar(tok);
        throw this.unsupported('CHAR(n) (blank-padded character type)', tok, 'use VARCHAR(n) or TEXT');
      case 'timestamp':
        return this.#timestamp(tok);
      default:
        if (KNOWN_UNSUPPORTED.has(word)) throw this.unsupported(`type ${word.toUpperCase()}`, tok);
        throw new SqlError('ERR_SQL_UNDEFINED_OBJECT', `type "${word}" does not exist`, {
          position: pos,
          hint: 'CascaDB types: INTEGER, BIGINT, REAL, DOUBLE PRECISION, NUMERIC, TEXT, VARCHAR, BOOLEAN, TIMESTAMP, BYTEA',
        });
    }
  }

  /** `(n)` or `(p, s)` after a type name; undefined when absent. */
  #modifiers(max: number): [number, number | undefined] | undefined {
    if (!this.acceptOp('(')) return undefined;
    const first = this.#modifier();
    const second = this.acceptOp(',') ? this.#modifier() : undefined;
    if (second !== undefined && max === 1) throw this.error("')'");
    this.expectOp(')');
    return [first, second];
  }

  #modifier(): number {
    const tok = this.peek();
    if (tok.type !== 'integer' || tok.value.length > 9) throw this.error('a small non-negative integer');
    this.index++;
    return Number(tok.value);
  }

  #float(tok: Token): TypeName {
    const mods = this.#modifiers(1);
    const p = mods?.[0];
    if (p !== undefined && (p < 1 || p > 53)) {
      throw this.#badModifier(tok, `precision for type float must be between 1 and 53 bits, not ${p}`);
    }
    const name = p !== undefined && p <= 24 ? 'real' : 'double';
    return { kind: 'TypeName', pos: tok.pos, name, precision: undefined, scale: undefined };
  }

  #numeric(tok: Token): TypeName {
    const mods = this.#modifiers(2);
    const [precision, scale] = mods ?? [undefined, undefined];
    if (precision !== undefined && (precision < 1 || precision > MAX_NUMERIC_PRECISION)) {
      throw this.#badModifier(
        tok,
        `NUMERIC precision ${precision} must be between 1 and ${MAX_NUMERIC_PRECISION}`,
      );
    }
    if (precision !== undefined && scale !== undefined && scale > precision) {
      throw this.#badModifier(tok, `NUMERIC scale ${scale} must be between 0 and precision ${precision}`);
    }
    return { kind: 'TypeName', pos: tok.pos, name: 'numeric', precision, scale };
  }

  #varchar(tok: Token): TypeName {
    const length = this.#modifiers(1)?.[0];
    if (length !== undefined && (length < 1 || length > MAX_VARCHAR_LENGTH)) {
      throw this.#badModifier(tok, `length for type varchar must be between 1 and ${MAX_VARCHAR_LENGTH}`);
    }
    return { kind: 'TypeName', pos: tok.pos, name: 'varchar', precision: length, scale: undefined };
  }

  #timestamp(tok: Token): TypeName {
    if (this.isOp('(')) throw this.unsupported('TIMESTAMP(p) precision', tok, 'TIMESTAMP keeps microseconds');
    if (this.acceptWords('with', 'time', 'zone')) throw this.unsupported('TIMESTAMP WITH TIME ZONE', tok);
    this.acceptWords('without', 'time', 'zone');
    return { kind: 'TypeName', pos: tok.pos, name: 'timestamp', precision: undefined, scale: undefined };
  }

  #badModifier(tok: Token, message: string): SqlError {
    return new SqlError(
      'ERR_SQL_INVALID_PARAMETER_VALUE',
      `${message} (line ${tok.pos.line}, column ${tok.pos.column})`,
      {
        position: tok.pos,
      },
    );
  }
}
