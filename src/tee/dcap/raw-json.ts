/**
 * Helpers to take the exact text of a member out of a JSON document. Intel signs the bytes of the
 * inner `tcbInfo` / `enclaveIdentity` object as they appear in the PCS response body; re-serializing
 * the parsed object would change them (key order, spacing, number forms) and break the signature.
 */

function skipWhitespace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t'))
    i++;
  return i;
}

/** Index just after the string token starting at `i` (which must be a `"`). */
function endOfString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  return -1;
}

/** Index just after the JSON value starting at `i`. */
function endOfValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return endOfString(text, i);
  if (c !== '{' && c !== '[') {
    let j = i;
    while (j < text.length && !/[\s,}\]]/.test(text[j]!)) j++;
    return j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const ch = text[j];
    if (ch === '"') {
      j = endOfString(text, j) - 1;
      if (j < 0) return -1;
    } else if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return j + 1;
    }
  }
  return -1;
}

/**
 * The exact source text of the value of top-level member `key` of the JSON object `text`, or null.
 * `text` must already be known to be valid JSON (callers `JSON.parse` it first).
 */
export function rawJsonMember(text: string, key: string): string | null {
  let i = skipWhitespace(text, 0);
  if (text[i] !== '{') return null;
  i++;
  while (i >= 0 && i < text.length) {
    i = skipWhitespace(text, i);
    if (text[i] !== '"') return null;
    const keyEnd = endOfString(text, i);
    if (keyEnd < 0) return null;
    const name: unknown = JSON.parse(text.slice(i, keyEnd));
    i = skipWhitespace(text, keyEnd);
    if (text[i] !== ':') return null;
    const start = skipWhitespace(text, i + 1);
    const end = endOfValue(text, start);
    if (end < 0) return null;
    if (name === key) return text.slice(start, end);
    i = skipWhitespace(text, end);
    if (text[i] !== ',') return null;
    i++;
  }
  return null;
}
