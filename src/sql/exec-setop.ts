/** UNION, INTERSECT and EXCEPT, with or without ALL, by hashing whole rows. */
import type { SetOperator } from './ast.ts';
import { counted, type Env, type OutputColumn, type PlanNode } from './plan-types.ts';
import { hashRow, type Row } from './types.ts';

export class SetOpNode implements PlanNode {
  readonly label: string;
  readonly columns: readonly OutputColumn[];
  readonly children: readonly PlanNode[];
  readonly #op: SetOperator;
  readonly #all: boolean;

  constructor(op: SetOperator, all: boolean, left: PlanNode, right: PlanNode) {
    this.#op = op;
    this.#all = all;
    this.children = [left, right];
    this.columns = left.columns;
    this.label = `${op === 'UNION' ? (all ? 'Append' : 'HashUnion') : `Hash${op[0]}${op.slice(1).toLowerCase()}`}${all ? ' All' : ''}`;
  }

  async details(): Promise<string[]> {
    return [];
  }

  run(env: Env): AsyncIterable<Row[]> {
    return counted(this, env, this.#rows(env));
  }

  async *#rows(env: Env): AsyncIterable<Row[]> {
    const [left, right] = this.children as [PlanNode, PlanNode];
    if (this.#op === 'UNION') {
      const seen = new Set<unknown>();
      for (const side of [left, right]) {
        for await (const batch of side.run(env)) {
          const out = this.#all
            ? batch
            : batch.filter((r) => !seen.has(hashRow(r)) && seen.add(hashRow(r)) !== undefined);
          if (out.length > 0) yield out;
        }
      }
      return;
    }
    const counts = new Map<unknown, number>();
    for await (const batch of right.run(env))
      for (const r of batch) counts.set(hashRow(r), (counts.get(hashRow(r)) ?? 0) + 1);
    const emitted = new Set<unknown>();
    const intersect = this.#op === 'INTERSECT';
    for await (const batch of left.run(env)) {
      const out: Row[] = [];
      for (const r of batch) {
        const h = hashRow(r);
        const n = counts.get(h) ?? 0;
        if (this.#all) {
          if (n > 0) counts.set(h, n - 1);
          if (n > 0 === intersect) out.push(r);
        } else if (n > 0 === intersect && !emitted.has(h)) {
          emitted.add(h);
          out.push(r);
        }
      }
      if (out.length > 0) yield out;
    }
  }
}
