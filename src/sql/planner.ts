/**
 * The planner's entry point: turns a parsed query or DML statement into an executable plan, once;
 * the plan is then run any number of times with different parameters. See `plan-access.ts` (key
 * ranges), `plan-from.ts` (joins), `plan-select.ts` (grouping, ordering), `plan-dml.ts`.
 */
import type { Query, Statement } from './ast.ts';
import type { CatalogReader } from './catalog.ts';
import type { ParamTypes } from './compile.ts';
import { SqlError } from './errors.ts';
import type { DmlNode } from './exec-dml.ts';
import type { KeyNameResolver } from './key-format.ts';
import { planDelete, planInsert, planUpdate } from './plan-dml.ts';
import { planQuery } from './plan-select.ts';
import type { Env, OutputColumn, PlanNode } from './plan-types.ts';
import type { PlannerContext } from './planner-context.ts';
import type { TableInfo } from './table-info.ts';
import { type TypeId, typeLabel } from './types.ts';

/** A planned query or DML statement. */
export interface StatementPlan {
  readonly kind: 'query' | 'dml';
  readonly command: 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';
  readonly root: PlanNode;
  readonly columns: readonly OutputColumn[];
  /** The types parameters are converted to (`$1` first); undetermined ones are TEXT. */
  readonly paramTypes: readonly TypeId[];
  /** The tables it depends on. */
  readonly tables: readonly TableInfo[];
  /** The columns as results describe them. */
  readonly resultColumns: readonly { readonly name: string; readonly type: string }[];
}

/** Statements the planner handles. */
export type PlannableStatement = Extract<
  Statement,
  { kind: 'Select' | 'SetOperation' | 'Insert' | 'Update' | 'Delete' }
>;

export function isPlannable(s: Statement): s is PlannableStatement {
  return (
    s.kind === 'Select' ||
    s.kind === 'SetOperation' ||
    s.kind === 'Insert' ||
    s.kind === 'Update' ||
    s.kind === 'Delete'
  );
}

function createContext(catalog: CatalogReader, names: KeyNameResolver): PlannerContext {
  const params: ParamTypes = { types: [] };
  let slots = 0;
  const pc: PlannerContext = {
    catalog,
    params,
    names,
    tables: new Set(),
    subqueries: {
      plan: (query: Query, scope) => {
        const marker = { correlated: false };
        return { root: planQuery(query, scope, pc, marker), marker };
      },
      slot: () => slots++,
    },
  };
  return pc;
}

/** Plans a query or DML statement against a catalog. */
export function planStatement(
  stmt: PlannableStatement,
  catalog: CatalogReader,
  names: KeyNameResolver,
): StatementPlan {
  const pc = createContext(catalog, names);
  let root: PlanNode;
  let kind: StatementPlan['kind'] = 'dml';
  let command: StatementPlan['command'];
  switch (stmt.kind) {
    case 'Select':
    case 'SetOperation':
      root = planQuery(stmt, undefined, pc);
      kind = 'query';
      command = 'SELECT';
      break;
    case 'Insert':
      root = planInsert(stmt, pc);
      command = 'INSERT';
      break;
    case 'Update':
      root = planUpdate(stmt, pc);
      command = 'UPDATE';
      break;
    case 'Delete':
      root = planDelete(stmt, pc);
      command = 'DELETE';
      break;
  }
  const paramTypes = pc.params.types.map((t) => t ?? 'text');
  const resultColumns = root.columns.map((c) => ({ name: c.name, type: typeLabel(c.type) }));
  return { kind, command, root, columns: root.columns, paramTypes, tables: [...pc.tables], resultColumns };
}

/** Runs a DML plan's root. */
export function dmlNode(plan: StatementPlan): DmlNode {
  if (plan.kind !== 'dml') throw new SqlError('ERR_SQL_INTERNAL', 'not a DML plan');
  return plan.root as DmlNode;
}

/** EXPLAIN's lines: each node's label then its details, children indented under `->`. */
export async function explainLines(root: PlanNode, env: Env): Promise<string[]> {
  const lines: string[] = [];
  const visit = async (node: PlanNode, depth: number): Promise<void> => {
    const pad = depth === 0 ? '' : `${'   '.repeat(depth - 1)}-> `;
    const rows = env.counts?.get(node);
    const actual = env.counts === undefined ? '' : ` (actual rows=${rows ?? 0})`;
    lines.push(`${pad}${node.label}${actual}`);
    const indent = depth === 0 ? '  ' : `${'   '.repeat(depth - 1)}     `;
    for (const d of await node.details(env)) lines.push(`${indent}${d}`);
    for (const child of node.children) await visit(child, depth + 1);
  };
  await visit(root, 0);
  return lines;
}
