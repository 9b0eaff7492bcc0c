import type {
  Assignment,
  ColumnDef,
  CreateTableStatement,
  Expr,
  IndexColumn,
  InsertStatement,
  OnConflict,
  SelectItem,
  Statement,
  TableConstraint,
  ValuesClause,
} from './ast.ts';
import { PREC } from './expression-parser.ts';
import { QueryParser } from './query-parser.ts';

/** Object kinds PostgreSQL can CREATE or DROP that CascaDB cannot: named in 0A000 errors. */
export const UNSUPPORTED_OBJECTS = new Set([
  'view',
  'materialized',
  'sequence',
  'schema',
  'database',
  'function',
  'procedure',
  'trigger',
  'type',
  'role',
  'user',
  'extension',
  'domain',
  'aggregate',
  'policy',
  'publication',
  'subscription',
  'server',
  'rule',
  'tablespace',
  'collation',
  'cast',
  'operator',
  'event',
  'temp',
  'temporary',
  'unlogged',
  'global',
  'local',
]);

/** Parses DML and the bodies of DDL statements; `parser.ts` dispatches on the first keyword. */
export abstract class StatementParser extends QueryParser {
  protected parseInsert(): InsertStatement {
    const pos = this.next().pos;
    this.expectWord('into');
    const table = this.tableName();
    const alias = this.acceptWord('as') ? this.identifier('an alias') : undefined;
    let columns: string[] | undefined;
    if (this.isOp('(') && !this.startsQuery(1)) columns = this.identifierList('a column name');
    if (this.isWord('overriding')) throw this.unsupported('OVERRIDING … VALUE');
    let source: ValuesClause | InsertStatement['source'];
    if (this.isWord('values')) {
      source = this.#values();
    } else if (this.isWord('default') && this.isWord('values', 1)) {
      throw this.unsupported('INSERT … DEFAULT VALUES', this.peek(), 'write VALUES (DEFAULT, …)');
    } else if (this.isWord('select') || this.isOp('(') || this.isWord('with')) {
      source = this.parseQuery();
    } else {
      throw this.error('VALUES or SELECT');
    }
    const onConflict = this.acceptWords('on', 'conflict') ? this.#onConflict() : undefined;
    const returning = this.returning();
    return { kind: 'Insert', pos, table, alias, columns, source, onConflict, returning };
  }

  #values(): ValuesClause {
    const pos = this.next().pos;
    const rows: Expr[][] = [];
    do {
      this.expectOp('(');
      const row = [this.valueOrDefault()];
      while (this.acceptOp(',')) row.push(this.valueOrDefault());
      this.expectOp(')');
      rows.push(row);
    } while (this.acceptOp(','));
    return { kind: 'Values', pos, rows };
  }

  /** An expression, or `DEFAULT` standing alone as the value. */
  protected valueOrDefault(): Expr {
    const tok = this.peek();
    if (tok.type === 'word' && tok.value === 'default') {
      this.index++;
      return { kind: 'Default', pos: tok.pos };
    }
    return this.parseExpr();
  }

  #onConflict(): OnConflict {
    const pos = this.peek().pos;
    if (this.isWord('on') && this.isWord('constraint', 1))
      throw this.unsupported('ON CONFLICT ON CONSTRAINT');
    const target = this.isOp('(') ? this.identifierList('a conflict target column') : undefined;
    if (this.isWord('where')) throw this.unsupported('ON CONFLICT (…) WHERE (partial index inference)');
    this.expectWord('do');
    if (this.acceptWord('nothing')) return { kind: 'DoNothing', pos, target };
    if (!this.isWord('update')) throw this.error('NOTHING or UPDATE');
    if (target === undefined) {
      throw this.error(
        'a conflict target such as ON CONFLICT (id) before DO UPDATE (PostgreSQL requires one)',
      );
    }
    this.index++;
    this.expectWord('set');
    const set = this.assignments();
    const where = this.acceptWord('where') ? this.parseExpr() : undefined;
    return { kind: 'DoUpdate', pos, target, set, where };
  }

  /** `col = expr | DEFAULT, …`. */
  protected assignments(): Assignment[] {
    const list: Assignment[] = [];
    do {
      const tok = this.peek();
      if (tok.type === 'op' && tok.value === '(')
        throw this.unsupported('multi-column assignments (a, b) = (…)');
      const column = this.identifier('a column name');
      if (this.isOp('.') || this.isOp('[')) throw this.unsupported('assignments to fields or subscripts');
      this.expectOp('=');
      list.push({ kind: 'Assignment', pos: tok.pos, column, value: this.valueOrDefault() });
    } while (this.acceptOp(','));
    return list;
  }

  /** `RETURNING list`, or undefined. */
  protected returning(): SelectItem[] | undefined {
    return this.acceptWord('returning') ? this.selectList() : undefined;
  }

  protected parseUpdate(): Statement {
    const pos = this.next().pos;
    if (this.isWord('only')) throw this.unsupported('ONLY');
    const table = this.tableName();
    let alias: string | undefined;
    if (this.acceptWord('as')) alias = this.identifier('an alias');
    else if (this.atIdentifier() && !this.isWord('set')) alias = this.identifier('an alias');
    this.expectWord('set');
    const set = this.assignments();
    if (this.isWord('from'))
      throw this.unsupported('UPDATE … FROM', this.peek(), 'use a subquery in SET or WHERE');
    const where = this.acceptWord('where') ? this.#where() : undefined;
    return { kind: 'Update', pos, table, alias, set, where, returning: this.returning() };
  }

  protected parseDelete(): Statement {
    const pos = this.next().pos;
    this.expectWord('from');
    if (this.isWord('only')) throw this.unsupported('ONLY');
    const table = this.tableName();
    let alias: string | undefined;
    if (this.acceptWord('as')) alias = this.identifier('an alias');
    else if (this.atIdentifier()) alias = this.identifier('an alias');
    if (this.isWord('using'))
      throw this.unsupported('DELETE … USING', this.peek(), 'use a subquery in WHERE');
    const where = this.acceptWord('where') ? this.#where() : undefined;
    return { kind: 'Delete', pos, table, alias, where, returning: this.returning() };
  }

  #where(): Expr {
    if (this.isWord('current') && this.isWord('of', 1)) throw this.unsupported('WHERE CURRENT OF (cursors)');
    return this.parseExpr();
  }

  protected parseCreateTable(pos: CreateTableStatement['pos']): CreateTableStatement {
    const ifNotExists = this.acceptWords('if', 'not', 'exists');
    const name = this.tableName();
    if (this.isWord('as'))
      throw this.unsupported('CREATE TABLE … AS', this.peek(), 'use CREATE TABLE, then INSERT … SELECT');
    if (this.isWord('of') || this.isWord('partition'))
      throw this.unsupported(`CREATE TABLE … ${this.peek().value.toUpperCase()}`);
    this.expectOp('(');
    const columns: ColumnDef[] = [];
    const constraints: TableConstraint[] = [];
    if (!this.isOp(')')) {
      do {
        if (this.#atTableConstraint()) constraints.push(this.#tableConstraint());
        else columns.push(this.#columnDef());
      } while (this.acceptOp(','));
    }
    this.expectOp(')');
    const trailing = this.peek();
    if (
      trailing.type === 'word' &&
      ['with', 'without', 'inherits', 'partition', 'tablespace', 'on', 'using'].includes(trailing.value)
    ) {
      throw this.unsupported(`CREATE TABLE … ${trailing.value.toUpperCase()}`, trailing);
    }
    return { kind: 'CreateTable', pos, name, ifNotExists, columns, constraints };
  }

  #atTableConstraint(): boolean {
    const tok = this.peek();
    if (tok.type !== 'word') return false;
    if (['constraint', 'primary', 'unique', 'check', 'foreign'].includes(tok.value)) return true;
    if (tok.value === 'like') throw this.unsupported('CREATE TABLE … (LIKE …)');
    return tok.value === 'exclude' && (this.isOp('(', 1) || this.isWord('using', 1));
  }

  #tableConstraint(): TableConstraint {
    const pos = this.peek().pos;
    const name = this.acceptWord('constraint') ? this.identifier('a constraint name') : undefined;
    if (this.acceptWords('primary', 'key'))
      return { kind: 'PrimaryKey', pos, name, columns: this.indexColumns() };
    if (this.acceptWord('unique')) {
      if (this.isWord('nulls')) throw this.unsupported('UNIQUE NULLS [NOT] DISTINCT');
      return { kind: 'Unique', pos, name, columns: this.indexColumns() };
    }
    throw this.#unsupportedConstraint('PRIMARY KEY or UNIQUE');
  }

  #unsupportedConstraint(expected: string): Error {
    const tok = this.peek();
    if (tok.type === 'word') {
      if (tok.value === 'check') return this.unsupported('CHECK constraints', tok);
      if (tok.value === 'foreign' || tok.value === 'references')
        return this.unsupported('FOREIGN KEY constraints', tok);
      if (tok.value === 'exclude') return this.unsupported('EXCLUDE constraints', tok);
    }
    return this.error(expected);
  }

  /** `(col [ASC|DESC], …)` of a key or an index. */
  protected indexColumns(): IndexColumn[] {
    this.expectOp('(');
    const columns: IndexColumn[] = [];
    do {
      const tok = this.peek();
      if (tok.type === 'op' && tok.value === '(') throw this.unsupported('indexes on expressions', tok);
      const name = this.identifier('a column name');
      if (this.isOp('(') || this.isOp('.')) throw this.unsupported('indexes on expressions', tok);
      if (this.isWord('collate')) throw this.unsupported('COLLATE', this.peek());
      const direction = this.acceptWord('desc') ? 'DESC' : 'ASC';
      if (direction === 'ASC') this.acceptWord('asc');
      if (this.isWord('nulls')) throw this.unsupported('NULLS FIRST/LAST in keys and indexes');
      columns.push({ kind: 'IndexColumn', pos: tok.pos, name, direction });
    } while (this.acceptOp(','));
    this.expectOp(')');
    return columns;
  }

  #columnDef(): ColumnDef {
    const pos = this.peek().pos;
    const name = this.identifier('a column name or a table constraint');
    const type = this.parseType();
    let notNull = false;
    let nullable = false;
    let primaryKey = false;
    let unique = false;
    let defaultExpr: Expr | undefined;
    for (;;) {
      const tok = this.peek();
      if (this.acceptWord('constraint')) this.identifier('a constraint name');
      if (this.acceptWords('not', 'null')) notNull = true;
      else if (this.acceptWord('null')) nullable = true;
      else if (this.acceptWords('primary', 'key')) primaryKey = true;
      else if (this.acceptWord('unique')) unique = true;
      else if (this.acceptWord('default')) {
        if (defaultExpr !== undefined) throw this.error(`a single DEFAULT for column "${name}"`, tok);
        defaultExpr = this.parseExpr(PREC.COMPARE);
      } else if (this.isWord('generated') || this.isWord('collate')) {
        throw this.unsupported(
          this.peek().value === 'collate' ? 'COLLATE' : 'generated columns',
          this.peek(),
        );
      } else if (this.isWord('check') || this.isWord('references')) {
        throw this.#unsupportedConstraint('');
      } else if (tok !== this.peek()) {
        throw this.error('a column constraint after CONSTRAINT name');
      } else {
        break;
      }
      if (notNull && nullable) throw this.error(`NULL or NOT NULL for column "${name}", not both`, tok);
    }
    return { kind: 'ColumnDef', pos, name, type, notNull, primaryKey, unique, default: defaultExpr };
  }
}
