import type {
  Expr,
  JoinType,
  OrderByItem,
  Query,
  SelectItem,
  SelectStatement,
  SetOperator,
  TableRef,
} from './ast.ts';
import { ExpressionParser } from './expression-parser.ts';
import { isReservedName } from './keywords.ts';
import type { Token } from './lexer.ts';

/** The ORDER BY / LIMIT / OFFSET that may follow a query. */
interface QueryTail {
  readonly orderBy: readonly OrderByItem[];
  readonly limit: Expr | undefined;
  readonly offset: Expr | undefined;
}

/** Parses queries: SELECT blocks, set operations, FROM clauses with joins and derived tables. */
export abstract class QueryParser extends ExpressionParser {
  /** `select [UNION|EXCEPT [ALL] select]… [ORDER BY …] [LIMIT …] [OFFSET …]`; INTERSECT binds tighter. */
  protected parseQuery(): Query {
    const start = this.peek();
    this.enter(start.pos);
    if (this.isWord('with')) throw this.unsupported('WITH (common table expressions)');
    let query = this.#intersectTerm();
    while (this.isWord('union') || this.isWord('except')) {
      const opTok = this.next();
      const all = this.#setQuantifier();
      const right = this.#intersectTerm();
      query = this.#setOperation(opTok, opTok.value === 'union' ? 'UNION' : 'EXCEPT', all, query, right);
    }
    query = this.#withTail(query);
    this.leave();
    return query;
  }

  #intersectTerm(): Query {
    let query = this.#queryPrimary();
    while (this.isWord('intersect')) {
      const opTok = this.next();
      const all = this.#setQuantifier();
      query = this.#setOperation(opTok, 'INTERSECT', all, query, this.#queryPrimary());
    }
    return query;
  }

  #setQuantifier(): boolean {
    if (this.acceptWord('all')) return true;
    this.acceptWord('distinct');
    return false;
  }

  #setOperation(tok: Token, op: SetOperator, all: boolean, left: Query, right: Query): Query {
    this.chainLinks++;
    return {
      kind: 'SetOperation',
      pos: tok.pos,
      op,
      all,
      left,
      right,
      orderBy: [],
      limit: undefined,
      offset: undefined,
    };
  }

  #queryPrimary(): Query {
    if (this.acceptOp('(')) {
      const query = this.parseQuery();
      this.expectOp(')');
      return query;
    }
    if (this.isWord('select')) return this.#select();
    if (this.isWord('values')) throw this.unsupported('VALUES lists outside INSERT');
    if (this.isWord('table'))
      throw this.unsupported('TABLE name queries', this.peek(), 'use SELECT * FROM name');
    throw this.error('SELECT');
  }

  /** Attaches a trailing ORDER BY / LIMIT / OFFSET; a query that already has one cannot take another. */
  #withTail(query: Query): Query {
    const tail = this.#tail();
    if (tail === undefined) return query;
    if (tail.orderBy.length > 0 && query.orderBy.length > 0) throw this.error('a single ORDER BY clause');
    if (tail.limit !== undefined && query.limit !== undefined) throw this.error('a single LIMIT clause');
    if (tail.offset !== undefined && query.offset !== undefined) throw this.error('a single OFFSET clause');
    return {
      ...query,
      orderBy: tail.orderBy.length > 0 ? tail.orderBy : query.orderBy,
      limit: tail.limit ?? query.limit,
      offset: tail.offset ?? query.offset,
    };
  }

  #tail(): QueryTail | undefined {
    let orderBy: OrderByItem[] = [];
    let limit: Expr | undefined;
    let offset: Expr | undefined;
    let seen = false;
    if (this.acceptWord('order')) {
      this.expectWord('by');
      orderBy = this.orderByList();
      seen = true;
    }
    for (;;) {
      if (this.isWord('limit') && limit === undefined) {
        this.index++;
        seen = true;
        if (!this.acceptWord('all')) limit = this.parseExpr();
        if (this.isOp(','))
          throw this.error('end of LIMIT (LIMIT n, m is MySQL syntax; write LIMIT m OFFSET n)');
      } else if (this.isWord('offset') && offset === undefined) {
        this.index++;
        seen = true;
        offset = this.parseExpr();
        if (!this.acceptWord('rows')) this.acceptWord('row');
      } else {
        break;
      }
    }
    if (this.isWord('fetch')) throw this.unsupported('FETCH FIRST', this.peek(), 'use LIMIT');
    if (this.isWord('for')) throw this.unsupported('SELECT … FOR UPDATE/SHARE (row locks)');
    return seen ? { orderBy, limit, offset } : undefined;
  }

  /** `expr [ASC|DESC] [NULLS FIRST|LAST], …`. */
  protected orderByList(): OrderByItem[] {
    const items: OrderByItem[] = [];
    do {
      const pos = this.peek().pos;
      const expr = this.parseExpr();
      let direction: 'ASC' | 'DESC' = 'ASC';
      if (this.acceptWord('desc')) direction = 'DESC';
      else if (this.isWord('using')) throw this.unsupported('ORDER BY … USING');
      else this.acceptWord('asc');
      let nulls: 'FIRST' | 'LAST' | undefined;
      if (this.acceptWord('nulls')) {
        if (this.acceptWord('first')) nulls = 'FIRST';
        else if (this.acceptWord('last')) nulls = 'LAST';
        else throw this.error('FIRST or LAST');
      }
      items.push({ kind: 'OrderByItem', pos, expr, direction, nulls });
    } while (this.acceptOp(','));
    return items;
  }

  #select(): SelectStatement {
    const pos = this.next().pos;
    let distinct = false;
    if (this.acceptWord('distinct')) {
      if (this.isWord('on')) throw this.unsupported('DISTINCT ON');
      distinct = true;
    } else {
      this.acceptWord('all');
    }
    const columns = this.selectList();
    if (this.isWord('into'))
      throw this.unsupported('SELECT … INTO', this.peek(), 'use CREATE TABLE and INSERT … SELECT');
    const from: TableRef[] = [];
    if (this.acceptWord('from')) {
      do from.push(this.#tableRef());
      while (this.acceptOp(','));
    }
    const where = this.acceptWord('where') ? this.parseExpr() : undefined;
    const groupBy: Expr[] = [];
    if (this.acceptWord('group')) {
      this.expectWord('by');
      if (this.isWord('grouping') || ((this.isWord('rollup') || this.isWord('cube')) && this.isOp('(', 1))) {
        throw this.unsupported('ROLLUP, CUBE and GROUPING SETS');
      }
      do groupBy.push(this.parseExpr());
      while (this.acceptOp(','));
    }
    const having = this.acceptWord('having') ? this.parseExpr() : undefined;
    if (this.isWord('window')) throw this.unsupported('window functions (WINDOW)');
    return {
      kind: 'Select',
      pos,
      distinct,
      columns,
      from,
      where,
      groupBy,
      having,
      orderBy: [],
      limit: undefined,
      offset: undefined,
    };
  }

  /** A select or RETURNING list: `expr [[AS] alias]`, `*`, `t.*`. */
  protected selectList(): SelectItem[] {
    const items: SelectItem[] = [];
    do items.push(this.#selectItem());
    while (this.acceptOp(','));
    return items;
  }

  #selectItem(): SelectItem {
    const tok = this.peek();
    if (this.acceptOp('*')) return { kind: 'SelectStar', pos: tok.pos, table: undefined };
    if ((tok.type === 'word' || tok.type === 'qident') && this.isOp('.', 1) && this.isOp('*', 2)) {
      this.index += 3;
      return { kind: 'SelectStar', pos: tok.pos, table: tok.value };
    }
    const expr = this.parseExpr();
    return { kind: 'SelectExpr', pos: tok.pos, expr, alias: this.#optionalAlias('an alias after AS') };
  }

  /** `AS label`, or a bare identifier that is not a keyword the grammar could mean here. */
  #optionalAlias(what: string): string | undefined {
    if (this.acceptWord('as')) return this.label(what);
    const tok = this.peek();
    if (tok.type === 'qident' || (tok.type === 'word' && !isReservedName(tok.value))) {
      this.index++;
      return tok.value;
    }
    return undefined;
  }

  #tableRef(): TableRef {
    this.enter(this.peek().pos);
    let left = this.#tablePrimary();
    for (;;) {
      const tok = this.peek();
      const type = this.#joinType();
      if (type === undefined) break;
      const right = this.#tablePrimary();
      let on: Expr | undefined;
      if (type !== 'CROSS') {
        if (this.isWord('using'))
          throw this.unsupported('JOIN … USING', this.peek(), 'write JOIN … ON a.x = b.x');
        this.expectWord('on');
        on = this.parseExpr();
      }
      left = { kind: 'Join', pos: tok.pos, type, left, right, on };
      this.chainLinks++;
    }
    this.leave();
    return left;
  }

  /** Consumes a join keyword sequence; undefined when none is here. */
  #joinType(): JoinType | undefined {
    if (this.acceptWord('join') || this.acceptWords('inner', 'join')) return 'INNER';
    if (this.acceptWords('left', 'join') || this.acceptWords('left', 'outer', 'join')) return 'LEFT';
    if (this.acceptWords('cross', 'join')) return 'CROSS';
    const tok = this.peek();
    if (tok.type !== 'word') return undefined;
    if (tok.value === 'right' || tok.value === 'full') {
      throw this.unsupported(`${tok.value.toUpperCase()} JOIN`, tok, 'swap the tables and use LEFT JOIN');
    }
    if (tok.value === 'natural') throw this.unsupported('NATURAL JOIN', tok, 'write JOIN … ON');
    if (tok.value === 'inner' || tok.value === 'left' || tok.value === 'cross')
      throw this.error('JOIN', this.peek(1));
    return undefined;
  }

  #tablePrimary(): TableRef {
    const tok = this.peek();
    if (tok.type === 'op' && tok.value === '(') {
      this.index++;
      const query = this.parenthesisedQuery();
      if (query !== undefined) return this.#derivedTable(tok, query);
      const inner = this.#tableRef();
      this.expectOp(')');
      if (this.isWord('as') || this.atIdentifier()) throw this.unsupported('aliases on parenthesised joins');
      return inner;
    }
    if (this.isWord('lateral')) throw this.unsupported('LATERAL');
    if (this.isWord('only')) throw this.unsupported('ONLY');
    const name = this.tableName();
    if (this.isOp('(')) throw this.unsupported('table functions', this.peek());
    const alias = this.#optionalAlias('an alias for the table');
    if (this.isOp('(')) throw this.unsupported('column aliases on a table', this.peek());
    if (this.isWord('tablesample')) throw this.unsupported('TABLESAMPLE');
    return { kind: 'TableName', pos: tok.pos, name, alias };
  }

  #derivedTable(open: Token, query: Query): TableRef {
    this.acceptWord('as');
    if (!this.atIdentifier()) throw this.error('an alias for the subquery in FROM (PostgreSQL requires one)');
    const alias = this.identifier('an alias');
    const columnAliases = this.isOp('(') ? this.identifierList('a column alias') : undefined;
    return { kind: 'DerivedTable', pos: open.pos, query, alias, columnAliases };
  }
}
