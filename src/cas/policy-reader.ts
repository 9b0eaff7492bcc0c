/**
 * Reads a policy document (YAML or JSON) into plain values and answers "where is this path in the
 * text?", so that every validation error names the path and, when known, the line and column.
 * Split out of policy.ts: this file knows the `yaml` library, policy.ts knows the policy.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { CasError } from './errors.ts';

/** A step of a path inside the document: a map key or a list index. */
export type PathSegment = string | number;

/** `services.mdc.accept[1].minSvn`; keys that are not plain identifiers are quoted: `files["/run/x"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** A short, safe rendering of a value found in the document, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a map';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…"` : text;
}

/** The closest candidate to `word` (edit distance ≤ 2, or equal ignoring case), if any. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = word.length <= 3 ? 1 : 2;
  return bestDistance <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** A parsed document: its plain value and a way to fail at a path with the location in the text. */
export interface PolicySource {
  readonly root: unknown;
  /** Throws `ERR_POLICY_INVALID`: "`path`: `message` (line L, column C)". `atKey` points at the key, not its value. */
  fail(path: readonly PathSegment[], message: string, options?: { atKey?: boolean }): never;
  /** The source text of a plain YAML scalar at `path` (e.g. hex digits YAML read as a number). */
  plainSource(path: readonly PathSegment[]): string | undefined;
}

/** Parses `text` as YAML or JSON (auto: JSON when it starts with `{`). Syntax errors give line and column. */
export function readPolicySource(text: string, format?: 'yaml' | 'json'): PolicySource {
  if (typeof text !== 'string') throw new TypeError('a policy must be text');
  const json = format === 'json' || (format === undefined && text.trimStart().startsWith('{'));
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  let root: unknown;
  if (json) root = parseJson(text, lineCounter);
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const where = lineCounter.linePos(problem.pos[0]);
    const reason = problem.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
    throw new CasError(
      'ERR_POLICY_INVALID',
      `the policy is not valid ${json ? 'JSON' : 'YAML'} at line ${where.line}, column ${where.col}: ${reason}`,
      { path: '' },
    );
  }
  if (!json) root = doc.toJS({ maxAliasCount: 50 });
  const locate = (path: readonly PathSegment[], atKey: boolean): string => {
    const offset = findOffset(doc.contents, path, atKey, doc);
    if (offset === undefined) return '';
    const { line, col } = lineCounter.linePos(offset);
    return ` (line ${line}, column ${col})`;
  };
  return {
    root,
    fail(path, message, options = {}): never {
      const where = formatPath(path);
      const text = `${where || 'policy'}: ${message}${locate(path, !!options.atKey)}`;
      throw new CasError('ERR_POLICY_INVALID', text, { path: where });
    },
    plainSource(path) {
      const node = nodeAt(doc.contents, path, doc);
      return isScalar(node) && node.type === 'PLAIN' && typeof node.source === 'string'
        ? node.source
        : undefined;
    },
  };
}

function parseJson(text: string, lineCounter: LineCounter): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec(String((err as Error).message));
    const at = position ? lineCounter.linePos(Number(position[1])) : undefined;
    const where = at ? ` at line ${at.line}, column ${at.col}` : '';
    const text = `the policy is not valid JSON${where}: ${(err as Error).message}`;
    throw new CasError('ERR_POLICY_INVALID', text, { path: '' });
  }
}

function step(node: unknown, seg: PathSegment, doc: Document): { key?: Node; value: unknown } | undefined {
  const resolved = isAlias(node) ? node.resolve(doc) : node;
  if (isMap(resolved)) {
    const pair = resolved.items.find((p) => (isScalar(p.key) ? String(p.key.value) : p.key) === seg);
    return pair ? { key: pair.key as Node, value: pair.value } : undefined;
  }
  if (isSeq(resolved) && typeof seg === 'number') return { value: resolved.items[seg] };
  return undefined;
}

function nodeAt(root: unknown, path: readonly PathSegment[], doc: Document): unknown {
  let node = root;
  for (const seg of path) {
    const next = step(node, seg, doc);
    if (!next) return undefined;
    node = next.value;
  }
  return isAlias(node) ? node.resolve(doc) : node;
}

/** The offset of the deepest node along `path` that exists (the key itself when `atKey`). */
function findOffset(
  root: unknown,
  path: readonly PathSegment[],
  atKey: boolean,
  doc: Document,
): number | undefined {
  let node = root;
  let offset = rangeStart(root);
  for (const [i, seg] of path.entries()) {
    const next = step(node, seg, doc);
    if (!next) return offset;
    const last = i === path.length - 1;
    offset = (last && atKey ? rangeStart(next.key) : undefined) ?? rangeStart(next.value) ?? offset;
    node = next.value;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}
