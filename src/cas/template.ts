/**
 * Policy templates: `{{ secrets.NAME.FIELD }}` and `{{ self.FIELD }}` inside the env, files and
 * args of a service. Rendered by the CAS at attestation time; rendered output holds secret values,
 * so it never goes into an error message.
 */
import { CasError } from './errors.ts';
import type { SecretType } from './policy-types.ts';

/** The fields a template may read from each secret type. */
export const SECRET_FIELDS: Readonly<Record<SecretType, readonly string[]>> = {
  'symmetric-key': ['hex', 'base64'],
  password: ['value'],
  'key-pair': ['privatePem', 'publicPem', 'publicHex'],
  certificate: ['pem', 'privatePem', 'chainPem'],
  'user-provided': ['value', 'hex', 'base64'],
};

/** The fields of `{{ self.FIELD }}`: the attested instance's own identity. */
export const SELF_FIELDS = [
  'name',
  'instanceId',
  'certificate.pem',
  'caCertificate.pem',
  'privateKey.pem',
] as const;

/** A field of `{{ self.FIELD }}`. */
export type SelfField = (typeof SELF_FIELDS)[number];

/**
 * What the CAS leaves in rendered output for the service runtime to fill in: the CAS never sees
 * the instance's private key, so `{{ self.privateKey.pem }}` is written back in this exact form.
 */
export const SELF_PRIVATE_KEY_PLACEHOLDER = '{{ self.privateKey.pem }}';

/** Supplies values while rendering. */
export interface TemplateContext {
  /** The value of `{{ secrets.NAME.FIELD }}`. */
  secret(name: string, field: string): string;
  /** The value of `{{ self.FIELD }}`, or undefined to leave the expression for the service runtime. */
  self(field: string): string | undefined;
}

/** One piece of a parsed template. */
export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'secret'; readonly name: string; readonly field: string }
  | { readonly kind: 'self'; readonly field: SelfField };

const SECRET_EXPR = /^secrets\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z][A-Za-z0-9]*)$/;
const SELF_EXPR = /^self\.([A-Za-z][A-Za-z0-9.]*)$/;

/**
 * Splits a template into text and expressions. Throws a CasError `ERR_POLICY_INVALID` whose path
 * is `where` for an unterminated `{{` or anything inside `{{ }}` that is not a known expression.
 */
export function parseTemplate(template: string, where: string): TemplatePart[] {
  if (typeof template !== 'string') throw new TypeError('a template must be a string');
  const parts: TemplatePart[] = [];
  let pos = 0;
  while (pos < template.length) {
    const open = template.indexOf('{{', pos);
    if (open < 0) break;
    if (open > pos) parts.push({ kind: 'text', text: template.slice(pos, open) });
    const close = template.indexOf('}}', open + 2);
    if (close < 0) {
      throw invalid(where, `"{{" at offset ${open} is not closed by "}}"`);
    }
    parts.push(parseExpression(template.slice(open + 2, close).trim(), where));
    pos = close + 2;
  }
  if (pos < template.length) parts.push({ kind: 'text', text: template.slice(pos) });
  return parts;
}

function parseExpression(expr: string, where: string): TemplatePart {
  const secret = SECRET_EXPR.exec(expr);
  if (secret) return { kind: 'secret', name: secret[1]!, field: secret[2]! };
  const self = SELF_EXPR.exec(expr);
  if (self) {
    const field = self[1]!;
    if ((SELF_FIELDS as readonly string[]).includes(field))
      return { kind: 'self', field: field as SelfField };
    throw invalid(
      where,
      `{{ ${expr} }}: self has no field "${field}"; expected one of ${SELF_FIELDS.join(', ')}`,
    );
  }
  throw invalid(
    where,
    `{{ ${expr} }} is not a template expression; expected {{ secrets.NAME.FIELD }} or {{ self.FIELD }}`,
  );
}

function invalid(where: string, message: string): CasError {
  return new CasError('ERR_POLICY_INVALID', `${where}: ${message}`, { path: where });
}

/**
 * Renders a template. `where` (e.g. `services.mdc.env.DB_KEY`) names the template in errors.
 * Errors never include rendered text.
 *
 * @example
 * renderTemplate('key={{ secrets.dbKey.hex }}', ctx, 'services.mdc.env.DB_KEY');
 */
export function renderTemplate(template: string, ctx: TemplateContext, where: string): string {
  let out = '';
  for (const part of parseTemplate(template, where)) {
    if (part.kind === 'text') out += part.text;
    else if (part.kind === 'secret') out += ctx.secret(part.name, part.field);
    else out += ctx.self(part.field) ?? `{{ self.${part.field} }}`;
  }
  return out;
}

/** The distinct secret names a template references, in order of first use. Throws like {@link parseTemplate}. */
export function templateSecretNames(template: string): string[] {
  const names: string[] = [];
  for (const part of parseTemplate(template, 'template')) {
    if (part.kind === 'secret' && !names.includes(part.name)) names.push(part.name);
  }
  return names;
}
