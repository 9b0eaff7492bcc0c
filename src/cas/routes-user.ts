/** Routes for users (mutual TLS with a key listed in the policy): policy, secrets, audit. */
import type { HttpRouter } from '../platform/http.ts';
import type { CasService } from './cas-service.ts';
import { CasError } from './errors.ts';
import { MAX_AUDIT_PAGE, MAX_BODY_BYTES, type PolicySignature } from './protocol.ts';
import { base64Value, bodyObject, callerKey, stringField } from './routes-input.ts';
import { MAX_USER_SECRET_BYTES } from './secrets.ts';

/** Adds the policy, secret and audit routes. */
export function addUserRoutes(router: HttpRouter, cas: CasService): void {
  router.get('/v1/policy', (req) => ({ json: cas.policyInForce(callerKey(req)) }));
  router.get('/v1/policy/history', (req) => ({ json: { history: cas.policyHistory(callerKey(req)) } }));
  router.post('/v1/policy', async (req) => {
    const body = await bodyObject(req);
    const text = stringField(body, 'text', MAX_BODY_BYTES);
    return { json: await cas.applyPolicy(text, readSignatures(body.signatures)) };
  });
  router.put('/v1/secrets/:name', async (req) => {
    const body = await bodyObject(req);
    const value = base64Value(body.value, 'value', MAX_USER_SECRET_BYTES);
    await cas.putSecret(callerKey(req), req.params.name ?? '', value);
    return { json: { name: req.params.name, stored: true } };
  });
  router.get('/v1/secrets/:name', async (req) => ({
    json: await cas.getSecret(callerKey(req), req.params.name ?? ''),
  }));
  router.get('/v1/audit', async (req) => {
    const fromText = req.query.get('from') ?? '1';
    const from = Number(fromText);
    if (!/^\d{1,15}$/.test(fromText) || from < 1)
      throw new CasError('ERR_BAD_REQUEST', '"from" must be a sequence number >= 1', { path: 'from' });
    const entries = await cas.auditEntries(callerKey(req), from, MAX_AUDIT_PAGE);
    return {
      text: entries.map((e) => `${JSON.stringify(e)}\n`).join(''),
      contentType: 'application/x-ndjson',
    };
  });
}

function readSignatures(value: unknown): PolicySignature[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 64)
    throw new CasError('ERR_BAD_REQUEST', '"signatures" must be a list of at most 64 { user, signature }', {
      path: 'signatures',
    });
  return value.map((s, i) => {
    const o = s as Record<string, unknown> | null;
    const ok =
      o !== null &&
      typeof o === 'object' &&
      typeof o.user === 'string' &&
      o.user.length <= 128 &&
      typeof o.signature === 'string' &&
      o.signature.length <= 1024;
    if (!ok)
      throw new CasError('ERR_BAD_REQUEST', `signatures[${i}] must be { user, signature } strings`, {
        path: `signatures[${i}]`,
      });
    return { user: o.user as string, signature: o.signature as string };
  });
}
