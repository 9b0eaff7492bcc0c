/**
 * Validation of the `services` and `secrets` sections of a policy. Split out of policy.ts.
 */
import { isIP } from 'node:net';
import { DEFAULT_ACCEPTED_TCB, PLATFORMS, TCB_STATUSES } from '../tee/index.ts';
import type { Path, PolicyFields } from './policy-fields.ts';
import { didYouMean } from './policy-reader.ts';
import type { AcceptEntry, SecretSpec, SecretType, ServicePolicy } from './policy-types.ts';
import { parseTemplate, SECRET_FIELDS } from './template.ts';

const SECRET_TYPES = Object.keys(SECRET_FIELDS) as SecretType[];
const SECRET_KEYS: Readonly<Record<SecretType, readonly string[]>> = {
  'symmetric-key': ['type', 'bits'],
  password: ['type', 'length'],
  'key-pair': ['type', 'algorithm'],
  certificate: ['type', 'dnsNames', 'validDays'],
  'user-provided': ['type'],
};
const SERVICE_KEYS = [
  'accept',
  'platforms',
  'allowSimulation',
  'allowDebug',
  'tcb',
  'maxInstances',
  'env',
  'files',
  'args',
  'secrets',
] as const;

/** Service names become DNS names and URI path segments of service certificates. */
export const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const ADVISORY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The `secrets` section: name → spec, with defaults filled in. */
export function readSecrets(f: PolicyFields, value: unknown): Record<string, SecretSpec> {
  const path: Path = ['secrets'];
  const obj = f.anyMap(path, value);
  const out: Record<string, SecretSpec> = {};
  for (const name of f.names(
    path,
    obj,
    SECRET_NAME,
    'letters, digits, "_" and "-", starting with a letter or "_"',
  )) {
    out[name] = readSecretSpec(f, [...path, name], obj[name]);
  }
  return out;
}

function readSecretSpec(f: PolicyFields, path: Path, value: unknown): SecretSpec {
  const type = f.oneOf(
    [...path, 'type'],
    f.map(path, value, Object.values(SECRET_KEYS).flat(), ['type']).type,
    SECRET_TYPES,
  );
  const obj = f.map(path, value, SECRET_KEYS[type]);
  switch (type) {
    case 'symmetric-key': {
      const bits = f.optional(obj.bits, 256, (v) => f.int([...path, 'bits'], v, 0, 65536));
      if (bits !== 128 && bits !== 192 && bits !== 256)
        f.fail([...path, 'bits'], `expected 128, 192 or 256, got ${bits}`);
      return { type, bits };
    }
    case 'password':
      return { type, length: f.optional(obj.length, 32, (v) => f.int([...path, 'length'], v, 12, 256)) };
    case 'key-pair':
      return {
        type,
        algorithm: f.oneOf([...path, 'algorithm'], obj.algorithm, ['ed25519', 'x25519', 'p256'] as const),
      };
    case 'certificate':
      return {
        type,
        dnsNames: f
          .list([...path, 'dnsNames'], obj.dnsNames, { nonEmpty: true })
          .map((v, i) => dnsName(f, [...path, 'dnsNames', i], v)),
        validDays: f.optional(obj.validDays, 30, (v) => f.int([...path, 'validDays'], v, 1, 3650)),
      };
    case 'user-provided':
      return { type };
  }
}

function dnsName(f: PolicyFields, path: Path, value: unknown): string {
  const name = f.string(path, value, { what: 'a DNS name or IP address', max: 253 });
  if (!DNS_NAME.test(name) && isIP(name) === 0)
    f.fail(path, `expected a DNS name or IP address, got "${name}"`);
  return name;
}

/** The `services` section. `secrets` is the validated secrets section (templates must name its entries). */
export function readServices(
  f: PolicyFields,
  value: unknown,
  secrets: Readonly<Record<string, SecretSpec>>,
): Record<string, ServicePolicy> {
  const path: Path = ['services'];
  const obj = f.anyMap(path, value);
  const out: Record<string, ServicePolicy> = {};
  const what = 'lower-case letters, digits and "-" (it becomes a DNS name in the service certificate)';
  for (const name of f.names(path, obj, SERVICE_NAME, what)) {
    out[name] = readService(f, [...path, name], obj[name], secrets);
  }
  return out;
}

function readService(
  f: PolicyFields,
  path: Path,
  value: unknown,
  secrets: Readonly<Record<string, SecretSpec>>,
): ServicePolicy {
  const obj = f.map(path, value, SERVICE_KEYS, ['accept']);
  const at = (key: string): Path => [...path, key];
  const granted: string[] = [];
  const template = (p: Path, v: unknown): string => {
    const text = f.string(p, v, { what: 'a string (a template)', max: 65536 });
    for (const name of checkTemplate(f, p, text, secrets)) if (!granted.includes(name)) granted.push(name);
    return text;
  };
  const accept = f
    .list(at('accept'), obj.accept, { nonEmpty: true })
    .map((e, i) => readAccept(f, [...path, 'accept', i], e));
  const env: Record<string, string> = {};
  const envObj = f.optional(obj.env, {}, (v) => f.anyMap(at('env'), v));
  for (const key of f.names(
    at('env'),
    envObj,
    ENV_NAME,
    'letters, digits and "_", not starting with a digit',
  )) {
    env[key] = template([...path, 'env', key], envObj[key]);
  }
  const files: Record<string, string> = {};
  const filesObj = f.optional(obj.files, {}, (v) => f.anyMap(at('files'), v));
  for (const key of Object.keys(filesObj)) {
    checkFilePath(f, [...path, 'files', key], key);
    files[key] = template([...path, 'files', key], filesObj[key]);
  }
  const args = f
    .optional(obj.args, [], (v) => f.list(at('args'), v))
    .map((a, i) => template([...path, 'args', i], a));
  const listed = f.optional(obj.secrets, [], (v) => f.subset(at('secrets'), v, Object.keys(secrets), false));
  for (const name of listed) if (!granted.includes(name)) granted.push(name);
  const tcb = f.optional(obj.tcb, {}, (v) => f.map(at('tcb'), v, ['accept', 'advisories']));
  return {
    accept,
    platforms: f.optional(obj.platforms, [...PLATFORMS], (v) => f.subset(at('platforms'), v, PLATFORMS)),
    allowSimulation: f.optional(obj.allowSimulation, false, (v) => f.bool(at('allowSimulation'), v)),
    allowDebug: f.optional(obj.allowDebug, false, (v) => f.bool(at('allowDebug'), v)),
    tcb: {
      accept: f.optional(tcb.accept, [...DEFAULT_ACCEPTED_TCB], (v) =>
        f.subset([...path, 'tcb', 'accept'], v, TCB_STATUSES),
      ),
      advisories: f.optional(tcb.advisories, [], (v) => readAdvisories(f, [...path, 'tcb', 'advisories'], v)),
    },
    maxInstances: f.optional(obj.maxInstances, 1, (v) => f.int(at('maxInstances'), v, 1, 100_000)),
    env,
    files,
    args,
    secrets: granted,
  };
}

function readAccept(f: PolicyFields, path: Path, value: unknown): AcceptEntry {
  const obj = f.map(path, value, ['measurement', 'signer', 'productId', 'minSvn']);
  const bySigner = obj.signer !== undefined || obj.productId !== undefined || obj.minSvn !== undefined;
  if (obj.measurement !== undefined) {
    if (bySigner) {
      f.fail(
        path,
        'an accept entry has either a measurement, or a signer with productId and minSvn, not both',
      );
    }
    return { measurement: f.hex([...path, 'measurement'], obj.measurement, [64, 96]) };
  }
  if (!bySigner) f.fail(path, 'expected a measurement, or a signer with productId and minSvn');
  for (const key of ['signer', 'productId', 'minSvn']) {
    if (obj[key] === undefined)
      f.fail(path, `missing required key "${key}" (a signer entry needs signer, productId and minSvn)`);
  }
  return {
    signer: f.hex([...path, 'signer'], obj.signer, [64, 96]),
    productId: f.int([...path, 'productId'], obj.productId, 0, 65535),
    minSvn: f.int([...path, 'minSvn'], obj.minSvn, 0, 65535),
  };
}

function readAdvisories(f: PolicyFields, path: Path, value: unknown): string[] {
  const out: string[] = [];
  for (const [i, item] of f.list(path, value).entries()) {
    const id = f.string([...path, i], item, {
      what: 'an advisory id such as INTEL-SA-00615',
      pattern: ADVISORY,
    });
    if (out.includes(id)) f.fail([...path, i], `"${id}" is listed twice`);
    out.push(id);
  }
  return out;
}

function checkFilePath(f: PolicyFields, path: Path, file: string): void {
  const segments = file.split('/').slice(1);
  const ok =
    file.startsWith('/') &&
    file.length <= 1024 &&
    !/[\0\\]/.test(file) &&
    segments.every((s) => s !== '' && s !== '.' && s !== '..');
  if (!ok) {
    f.fail(
      path,
      `"${file}" is not a valid file path: expected an absolute path without "..", "." or empty segments`,
      {
        atKey: true,
      },
    );
  }
}

/** Checks a template's syntax and that it names declared secrets and their known fields; returns the names. */
function checkTemplate(
  f: PolicyFields,
  path: Path,
  text: string,
  secrets: Readonly<Record<string, SecretSpec>>,
): string[] {
  const names: string[] = [];
  let parts: ReturnType<typeof parseTemplate>;
  try {
    parts = parseTemplate(text, 'template');
  } catch (err) {
    return f.fail(path, (err as Error).message.replace(/^template: /, ''));
  }
  for (const part of parts) {
    if (part.kind !== 'secret') continue;
    const spec = Object.hasOwn(secrets, part.name) ? secrets[part.name] : undefined;
    if (spec === undefined) {
      const hint = didYouMean(part.name, Object.keys(secrets));
      const suggestion = hint ? ` (did you mean "${hint}"?)` : '';
      f.fail(
        path,
        `{{ secrets.${part.name}.${part.field} }} names secret "${part.name}", which is not declared under secrets${suggestion}`,
      );
    }
    const fields = SECRET_FIELDS[spec.type];
    if (!fields.includes(part.field)) {
      const hint = didYouMean(part.field, fields);
      const suggestion = hint ? `; did you mean "${hint}"?` : '';
      f.fail(
        path,
        `secret "${part.name}" is a ${spec.type}, which has the fields ${fields.join(', ')}, not "${part.field}"${suggestion}`,
      );
    }
    if (!names.includes(part.name)) names.push(part.name);
  }
  return names;
}
