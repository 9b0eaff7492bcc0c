/** Hash aggregation: GROUP BY keys → accumulators for COUNT, SUM, AVG, MIN, MAX (also DISTINCT). */
import { checkInt8 } from './cast.ts';
import { Decimal } from './decimal.ts';
import {
  type Compiled,
  cooperate,
  counted,
  type Env,
  type OutputColumn,
  type PlanNode,
} from './plan-types.ts';
import { comparatorFor, hashRow, hashValue, type Row, type TypeId, type Value } from './types.ts';

export type AggFunc = 'count' | 'sum' | 'avg' | 'min' | 'max';

/** One aggregate call: `func([DISTINCT] arg)` or `count(*)`, and its result type. */
export interface AggSpec {
  readonly func: AggFunc;
  readonly arg: Compiled | undefined;
  readonly distinct: boolean;
  readonly type: TypeId;
  readonly text: string;
}

/** The result type of an aggregate over an argument type. */
export function aggregateType(func: AggFunc, arg: TypeId | undefined): TypeId {
  switch (func) {
    case 'count':
      return 'bigint';
    case 'sum':
      return arg === 'integer' ? 'bigint' : arg === 'bigint' ? 'numeric' : (arg ?? 'numeric');
    case 'avg':
      return arg === 'real' || arg === 'double' ? 'double' : 'numeric';
    default:
      return arg ?? 'text';
  }
}

interface Acc {
  add(v: Value): void;
  result(): Value;
}

function makeAcc(spec: AggSpec): Acc {
  const argType = spec.arg?.type;
  switch (spec.func) {
    case 'count': {
      let n = 0;
      return { add: () => void n++, result: () => BigInt(n) };
    }
    case 'min':
    case 'max': {
      const cmp = comparatorFor(argType ?? 'text');
      const sign = spec.func === 'max' ? 1 : -1;
      let best: Value = null;
      return {
        add: (v) => {
          if (best === null || cmp(v, best) * sign > 0) best = v;
        },
        result: () => best,
      };
    }
    default:
      return sumAcc(spec.func === 'avg', argType ?? 'numeric');
  }
}

function sumAcc(avg: boolean, argType: TypeId): Acc {
  let n = 0;
  if (argType === 'real' || argType === 'double') {
    let s = 0;
    return {
      add: (v) => {
        n++;
        s += v as number;
      },
      result: () => (n === 0 ? null : avg ? s / n : argType === 'real' ? Math.fround(s) : s),
    };
  }
  if (argType === 'integer' || argType === 'bigint') {
    let s = 0n;
    return {
      add: (v) => {
        n++;
        s += typeof v === 'bigint' ? v : BigInt(v as number);
      },
      result: () => {
        if (n === 0) return null;
        if (avg) return new Decimal(s, 0).div(new Decimal(BigInt(n), 0));
        return argType === 'integer' ? checkInt8(s) : new Decimal(s, 0);
      },
    };
  }
  let s = new Decimal(0n, 0);
  return {
    add: (v) => {
      n++;
      s = s.add(v as Decimal);
    },
    result: () => (n === 0 ? null : avg ? s.div(new Decimal(BigInt(n), 0)) : s),
  };
}

interface Group {
  readonly keys: Value[];
  readonly accs: Acc[];
  readonly seen: (Set<unknown> | undefined)[];
}

/** Groups input rows by the keys and computes the aggregates; output rows are `[keys…, aggregates…]`. */
export class AggregateNode implements PlanNode {
  readonly label: string;
  readonly columns: readonly OutputColumn[];
  readonly children: readonly PlanNode[];
  readonly #child: PlanNode;
  readonly #keys: readonly Compiled[];
  readonly #aggs: readonly AggSpec[];
  readonly #keyText: string;

  constructor(
    child: PlanNode,
    keys: readonly Compiled[],
    aggs: readonly AggSpec[],
    columns: readonly OutputColumn[],
    keyText: string,
  ) {
    this.#child = child;
    this.children = [child];
    this.#keys = keys;
    this.#aggs = aggs;
    this.columns = columns;
    this.#keyText = keyText;
    this.label = keys.length === 0 ? 'Aggregate' : 'HashAggregate';
  }

  async details(): Promise<string[]> {
    const out: string[] = [];
    if (this.#keyText !== '') out.push(`Group Key: ${this.#keyText}`);
    if (this.#aggs.length > 0) out.push(`Aggregates: ${this.#aggs.map((a) => a.text).join(', ')}`);
    return out;
  }

  run(env: Env): AsyncIterable<Row[]> {
    return counted(this, env, this.#rows(env));
  }

  #newGroup(keys: Value[]): Group {
    return {
      keys,
      accs: this.#aggs.map(makeAcc),
      seen: this.#aggs.map((a) => (a.distinct ? new Set() : undefined)),
    };
  }

  async *#rows(env: Env): AsyncIterable<Row[]> {
    const groups = new Map<unknown, Group>();
    const keys = this.#keys;
    const aggs = this.#aggs;
    const inputs = [...keys, ...aggs.map((a) => a.arg).filter((a) => a !== undefined)];
    const needsPrepare = inputs.some((c) => c.prepare !== undefined);
    for await (const batch of this.#child.run(env)) {
      for (const row of batch) {
        if (needsPrepare) for (const c of inputs) if (c.prepare !== undefined) await c.prepare(row, env);
        const kv = keys.map((k) => k.eval(row, env));
        const h = hashRow(kv);
        let g = groups.get(h);
        if (g === undefined) {
          g = this.#newGroup(kv);
          groups.set(h, g);
        }
        for (let i = 0; i < aggs.length; i++) {
          const a = aggs[i]!;
          if (a.arg === undefined) {
            g.accs[i]!.add(null);
            continue;
          }
          const v = a.arg.eval(row, env);
          if (v === null) continue;
          const seen = g.seen[i];
          if (seen !== undefined) {
            const hv = hashValue(v);
            if (seen.has(hv)) continue;
            seen.add(hv);
          }
          g.accs[i]!.add(v);
        }
      }
      await cooperate(env);
    }
    if (groups.size === 0 && keys.length === 0) groups.set(0, this.#newGroup([]));
    let out: Row[] = [];
    for (const g of groups.values()) {
      out.push([...g.keys, ...g.accs.map((a) => a.result())]);
      if (out.length >= 512) {
        yield out;
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }
}
