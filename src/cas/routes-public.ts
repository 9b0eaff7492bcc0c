/** Routes anyone may call (the CAS decides from evidence) and the instance routes (service mTLS). */
import type { HttpRouter } from '../platform/http.ts';
import type { CasService } from './cas-service.ts';
import { CasError } from './errors.ts';
import { MAX_BODY_BYTES, MAX_EVIDENCE_BYTES } from './protocol.ts';
import { base64Value, bodyObject, stringField } from './routes-input.ts';

const MAX_COLLATERAL_FILES = 16;

/** Adds evidence, status, nonce, attest, heartbeat and release routes. */
export function addPublicRoutes(router: HttpRouter, cas: CasService): void {
  router.get('/v1/status', () => ({ json: cas.status() }));
  router.get('/v1/evidence', async (req) => {
    const own = await cas.ownEvidence(req.query.get('nonce') ?? '');
    return {
      json: {
        evidence: Buffer.from(own.evidence).toString('base64'),
        platform: own.platform,
        measurement: own.measurement,
      },
    };
  });
  router.post('/v1/attest/nonce', async (req) => {
    const body = await bodyObject(req);
    return { json: cas.createNonce(stringField(body, 'service', 64)) };
  });
  router.post('/v1/attest', async (req) => {
    const body = await bodyObject(req);
    const grant = await cas.attest({
      service: stringField(body, 'service', 64),
      nonce: stringField(body, 'nonce', 128),
      evidence: base64Value(body.evidence, 'evidence', MAX_EVIDENCE_BYTES),
      publicKey: stringField(body, 'publicKey', 4096),
      ...(body.collateral === undefined ? {} : { collateral: readCollateral(body.collateral) }),
    });
    return { json: grant };
  });
  router.post('/v1/instances/:id/heartbeat', (req) => ({
    json: cas.heartbeat(req.peerCertificate, req.params.id ?? ''),
  }));
  router.delete('/v1/instances/:id', (req) => {
    cas.release(req.peerCertificate, req.params.id ?? '');
    return { json: { released: req.params.id } };
  });
}

function readCollateral(value: unknown): Record<string, Uint8Array> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new CasError('ERR_BAD_REQUEST', '"collateral" must be an object of file name to base64', {
      path: 'collateral',
    });
  const entries = Object.entries(value);
  if (entries.length > MAX_COLLATERAL_FILES)
    throw new CasError('ERR_BAD_REQUEST', `at most ${MAX_COLLATERAL_FILES} collateral files`, {
      path: 'collateral',
    });
  const out: Record<string, Uint8Array> = {};
  for (const [name, data] of entries) {
    if (name.length === 0 || name.length > 128)
      throw new CasError('ERR_BAD_REQUEST', 'collateral file names are 1..128 characters', {
        path: 'collateral',
      });
    out[name] = base64Value(data, `collateral.${name}`, MAX_BODY_BYTES);
  }
  return out;
}
