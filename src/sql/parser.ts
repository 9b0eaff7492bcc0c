import type {
  BeginStatement,
  CreateIndexStatement,
  IsolationLevel,
  SetStatement,
  SetValue,
  SourcePos,
  Statement,
} from './ast.ts';
import { SqlError } from './errors.ts';
import { DEFAULT_MAX_SQL_LENGTH, tokenize } from './lexer.ts';
import { DEFAULT_MAX_DEPTH } from './parser-base.ts';
import { StatementParser, UNSUPPORTED_OBJECTS } from './statement-parser.ts';

/** Limits for parsing hostile input. */
export interface ParseOptions {
  /** Longest SQL text accepted, in UTF-16 code units (default 16 Mi); longer gives 54000. */
  readonly maxLength?: number;
  /**
   * Deepest nesting of parentheses, subqueries and prefix operators (default 200); deeper gives
   * 54001. Trees built from long operator chains are also refused beyond 4 × maxDepth levels.
   */
  readonly maxDepth?: number;
}

/** Statements PostgreSQL has and CascaDB refuses by name (0A000) rather than as a syntax error. */
const UNSUPPORTED_STATEMENTS = new Set([
  'alter',
  'truncate',
  'grant',
  'revoke',
  'vacuum',
  'analyze',
  'analyse',
  'copy',
  'prepare',
  'execute',
  'deallocate',
  'listen',
  'notify',
  'unlisten',
  'lock',
  'do',
  'call',
  'comment',
  'reindex',
  'cluster',
  'discard',
  'reset',
  'checkpoint',
  'declare',
  'fetch',
  'move',
  'close',
  'savepoint',
  'release',
  'import',
  'load',
  'refresh',
  'security',
  'reassign',
  'merge',
]);

const ISOLATION_LEVELS: readonly (readonly [string[], IsolationLevel])[] = [
  [['serializable'], 'SERIALIZABLE'],
  [['repeatable', 'read'], 'REPEATABLE READ'],
  [['read', 'committed'], 'READ COMMITTED'],
  [['read', 'uncommitted'], 'READ UNCOMMITTED'],
];

/** The full parser: dispatches on a statement's first keyword. */
class SqlParser extends StatementParser {
  /** All statements of the text, separated by `;` (empty statements are skipped). */
  parseAll(): Statement[] {
    const statements: Statement[] = [];
    for (;;) {
      while (this.acceptOp(';')) {}
      if (this.peek().type === 'eof') return statements;
      this.chainLinks = 0;
      const statement = this.parseOne();
      if (!this.isOp(';') && this.peek().type !== 'eof') throw this.error("';' or end of input");
      // Recursion adds at most a few tree levels per nesting level, so only long chains can exceed this.
      if (this.chainLinks > this.maxDepth) checkTreeDepth(statement, this.maxDepth * 4);
      statements.push(statement);
    }
  }

  parseOne(): Statement {
    const tok = this.peek();
    if (tok.type === 'op' && tok.value === '(') return this.parseQuery();
    if (tok.type !== 'word') throw this.error('a statement');
    switch (tok.value) {
      case 'select':
      case 'with':
      case 'values':
      case 'table':
        return this.parseQuery();
      case 'insert':
        return this.parseInsert();
      case 'update':
        return this.parseUpdate();
      case 'delete':
        return this.parseDelete();
      case 'create':
        return this.#create();
      case 'drop':
        return this.#drop();
      case 'begin':
      case 'start':
        return this.#begin();
      case 'commit':
      case 'end':
        return this.#endTransaction('Commit');
      case 'rollback':
      case 'abort':
        return this.#endTransaction('Rollback');
      case 'explain':
        return this.#explain();
      case 'set':
        return this.#set();
      case 'show':
        return this.#show();
      default:
        if (UNSUPPORTED_STATEMENTS.has(tok.value)) throw this.unsupported(tok.value.toUpperCase(), tok);
        throw this.error('a statement (SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, BEGIN, COMMIT, …)');
    }
  }

  #create(): Statement {
    const pos = this.next().pos;
    if (this.acceptWord('table')) return this.parseCreateTable(pos);
    if (this.isWord('unique') || this.isWord('index')) return this.#createIndex(pos);
    const tok = this.peek();
    if (this.isWord('or') && this.isWord('replace', 1)) throw this.unsupported('CREATE OR REPLACE', tok);
    if (tok.type === 'word' && UNSUPPORTED_OBJECTS.has(tok.value)) {
      throw this.unsupported(`CREATE ${tok.value.toUpperCase()}`, tok);
    }
    throw this.error('TABLE, INDEX or UNIQUE INDEX after CREATE');
  }

  #createIndex(pos: SourcePos): CreateIndexStatement {
    const unique = this.acceptWord('unique');
    this.expectWord('index');
    if (this.isWord('concurrently')) throw this.unsupported('CREATE INDEX CONCURRENTLY');
    const ifNotExists = this.acceptWords('if', 'not', 'exists');
    const name = this.isWord('on') ? undefined : this.identifier('an index name or ON');
    if (ifNotExists && name === undefined) throw this.error('an index name after IF NOT EXISTS');
    this.expectWord('on');
    if (this.isWord('only')) throw this.unsupported('ONLY');
    const table = this.tableName();
    if (this.acceptWord('using') && !this.acceptWord('btree')) {
      throw this.unsupported('index methods other than btree', this.peek());
    }
    const columns = this.indexColumns();
    const trailing = this.peek();
    if (trailing.type === 'word') {
      if (trailing.value === 'where')
        throw this.unsupported('partial indexes (CREATE INDEX … WHERE)', trailing);
      if (['include', 'with', 'nulls', 'tablespace'].includes(trailing.value)) {
        throw this.unsupported(`CREATE INDEX … ${trailing.value.toUpperCase()}`, trailing);
      }
    }
    return { kind: 'CreateIndex', pos, name, table, unique, ifNotExists, columns };
  }

  #drop(): Statement {
    const pos = this.next().pos;
    const tok = this.peek();
    const isTable = this.acceptWord('table');
    if (!isTable && !this.acceptWord('index')) {
      if (tok.type === 'word' && UNSUPPORTED_OBJECTS.has(tok.value)) {
        throw this.unsupported(`DROP ${tok.value.toUpperCase()}`, tok);
      }
      throw this.error('TABLE or INDEX after DROP');
    }
    if (!isTable && this.isWord('concurrently')) throw this.unsupported('DROP INDEX CONCURRENTLY');
    const ifExists = this.acceptWords('if', 'exists');
    const names = [isTable ? this.tableName() : this.#indexName()];
    while (this.acceptOp(',')) names.push(isTable ? this.tableName() : this.#indexName());
    // No views, foreign keys or other dependent objects exist, so CASCADE and RESTRICT mean the same.
    if (!this.acceptWord('cascade')) this.acceptWord('restrict');
    return isTable
      ? { kind: 'DropTable', pos, names, ifExists }
      : { kind: 'DropIndex', pos, names, ifExists };
  }

  #indexName(): string {
    const name = this.identifier('an index name');
    if (this.isOp('.')) throw this.unsupported('schema-qualified names');
    return name;
  }

  #begin(): BeginStatement {
    const tok = this.next();
    if (tok.value === 'start') this.expectWord('transaction');
    else if (!this.acceptWord('transaction')) this.acceptWord('work');
    let isolation: IsolationLevel | undefined;
    let readOnly: boolean | undefined;
    for (let first = true; ; first = false) {
      if (!first && !this.acceptOp(',') && !this.isWord('isolation') && !this.isWord('read')) break;
      if (this.acceptWords('isolation', 'level')) isolation = this.#isolationLevel();
      else if (this.acceptWords('read', 'only')) readOnly = true;
      else if (this.acceptWords('read', 'write')) readOnly = false;
      else if (this.isWord('deferrable') || this.isWord('not'))
        throw this.unsupported('DEFERRABLE transactions');
      else if (first) break;
      else throw this.error('ISOLATION LEVEL, READ ONLY or READ WRITE');
    }
    return { kind: 'Begin', pos: tok.pos, isolation, readOnly };
  }

  #isolationLevel(): IsolationLevel {
    for (const [words, level] of ISOLATION_LEVELS) if (this.acceptWords(...words)) return level;
    throw this.error('SERIALIZABLE, REPEATABLE READ, READ COMMITTED or READ UNCOMMITTED');
  }

  #endTransaction(kind: 'Commit' | 'Rollback'): Statement {
    const pos = this.next().pos;
    if (this.isWord('prepared')) throw this.unsupported(`${kind.toUpperCase()} PREPARED (two-phase commit)`);
    if (!this.acceptWord('transaction')) this.acceptWord('work');
    if (this.isWord('to')) throw this.unsupported('ROLLBACK TO SAVEPOINT');
    if (this.isWord('and')) throw this.unsupported(`${kind.toUpperCase()} AND CHAIN`);
    return { kind, pos };
  }

  #explain(): Statement {
    const pos = this.next().pos;
    if (this.isOp('('))
      throw this.unsupported('EXPLAIN (options)', this.peek(), 'write EXPLAIN or EXPLAIN ANALYZE');
    const analyze = this.acceptWord('analyze') || this.acceptWord('analyse');
    this.acceptWord('verbose');
    const inner = this.peek();
    const statement = this.parseOne();
    if (statement.kind === 'Explain') throw this.error('a statement to explain', inner);
    return { kind: 'Explain', pos, analyze, statement };
  }

  #set(): SetStatement {
    const pos = this.next().pos;
    if (this.isWord('session') && this.isWord('characteristics', 1))
      throw this.unsupported('SET SESSION CHARACTERISTICS');
    const local = this.acceptWord('local');
    if (!local) this.acceptWord('session');
    if (this.isWord('transaction'))
      throw this.unsupported('SET TRANSACTION', this.peek(), 'use BEGIN ISOLATION LEVEL …');
    if (this.acceptWords('time', 'zone'))
      return { kind: 'Set', pos, name: 'timezone', local, values: [this.#setValue()] };
    const name = this.#settingName();
    if (!this.acceptWord('to')) this.expectOp('=');
    const values = [this.#setValue()];
    while (this.acceptOp(',')) values.push(this.#setValue());
    return { kind: 'Set', pos, name, local, values };
  }

  /** `name` or `prefix.name` of a run-time setting, lower-case unless quoted. */
  #settingName(): string {
    const part = (): string => {
      const tok = this.peek();
      if (tok.type !== 'word' && tok.type !== 'qident') throw this.error('a setting name');
      this.index++;
      return tok.value;
    };
    let name = part();
    while (this.acceptOp('.')) name += `.${part()}`;
    return name;
  }

  #setValue(): SetValue {
    const tok = this.next();
    const pos = tok.pos;
    if (tok.type === 'string') return { kind: 'SetValue', pos, type: 'string', text: tok.value };
    if (tok.type === 'integer' || tok.type === 'numeric')
      return { kind: 'SetValue', pos, type: 'number', text: tok.value };
    if (tok.type === 'op' && (tok.value === '-' || tok.value === '+')) {
      const num = this.next();
      if (num.type !== 'integer' && num.type !== 'numeric') throw this.error('a number', num);
      return { kind: 'SetValue', pos, type: 'number', text: tok.value === '-' ? `-${num.value}` : num.value };
    }
    if (tok.type === 'word' && tok.value === 'default')
      return { kind: 'SetValue', pos, type: 'default', text: 'default' };
    if (tok.type === 'word' || tok.type === 'qident')
      return { kind: 'SetValue', pos, type: 'identifier', text: tok.value };
    throw this.error('a value', tok);
  }

  #show(): Statement {
    const pos = this.next().pos;
    if (this.acceptWords('time', 'zone')) return { kind: 'Show', pos, name: 'timezone' };
    if (this.acceptWords('transaction', 'isolation', 'level'))
      return { kind: 'Show', pos, name: 'transaction_isolation' };
    return { kind: 'Show', pos, name: this.#settingName() };
  }
}

/**
 * Rejects a tree deeper than `limit`: long operator chains such as `a OR b OR …` are parsed by a
 * loop, not by recursion, but whoever walks the tree recurses. Iterative.
 */
function checkTreeDepth(root: Statement, limit: number): void {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > limit) {
      const pos = (node as { pos?: SourcePos }).pos;
      throw new SqlError(
        'ERR_SQL_TOO_COMPLEX',
        `statement too complex: expression tree deeper than ${limit} levels`,
        {
          position: pos,
          hint: 'use IN (…) instead of long OR chains, or split the statement',
        },
      );
    }
    for (const [key, value] of Object.entries(node as object)) {
      if (key === 'pos' || value === null || typeof value !== 'object') continue;
      stack.push([value, Array.isArray(value) ? depth : depth + 1]);
    }
  }
}

function createParser(text: string, options: ParseOptions): SqlParser {
  const tokens = tokenize(text, options.maxLength ?? DEFAULT_MAX_SQL_LENGTH);
  return new SqlParser(text, tokens, options.maxDepth ?? DEFAULT_MAX_DEPTH);
}

/**
 * Parses SQL text holding any number of statements separated by `;`.
 * Throws a {@link SqlError}: 42601 with line and column for syntax errors, 0A000 naming an
 * unsupported construct, 54000/54001 for oversized or too deeply nested input.
 *
 * @example
 * parseSql('BEGIN; INSERT INTO t VALUES ($1); COMMIT').map((s) => s.kind) // ['Begin', 'Insert', 'Commit']
 */
export function parseSql(text: string, options: ParseOptions = {}): Statement[] {
  try {
    return createParser(text, options).parseAll();
  } catch (err) {
    // Backstop for a caller-raised maxDepth: the JS stack must never be what stops a hostile statement.
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new SqlError('ERR_SQL_TOO_COMPLEX', 'statement too complex: nesting exhausted the parser stack', {
        hint: 'simplify the statement, or lower maxDepth',
        cause: err,
      });
    }
    throw err;
  }
}

/**
 * Parses exactly one statement (a trailing `;` is allowed).
 *
 * @example
 * parseStatement('SELECT a FROM t WHERE id = $1').kind // 'Select'
 */
export function parseStatement(text: string, options: ParseOptions = {}): Statement {
  const statements = parseSql(text, options);
  if (statements.length === 1) return statements[0]!;
  if (statements.length === 0) {
    throw new SqlError(
      'ERR_SQL_SYNTAX',
      'syntax error at line 1, column 1: expected a statement but found end of input',
      {
        position: { line: 1, column: 1, offset: 1 },
      },
    );
  }
  const second = statements[1]!.pos;
  throw new SqlError(
    'ERR_SQL_SYNTAX',
    `syntax error at line ${second.line}, column ${second.column}: expected a single statement but found another`,
    { position: second, hint: 'use parseSql() for several statements' },
  );
}
