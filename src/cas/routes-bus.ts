/** Routes of the secure bus (service mTLS): an instance records its CURVE key; channel members list keys. */
import type { HttpRouter } from '../platform/http.ts';
import type { CasService } from './cas-service.ts';
import { bodyObject, stringField } from './routes-input.ts';

/** Adds `PUT /v1/instances/:id/curve-key` and `GET /v1/channels/:name/keys`. */
export function addBusRoutes(router: HttpRouter, cas: CasService): void {
  router.put('/v1/instances/:id/curve-key', async (req) => {
    const body = await bodyObject(req);
    const publicKey = stringField(body, 'publicKey', 40);
    await cas.putCurveKey(req.peerCertificate, req.params.id ?? '', publicKey);
    return { json: { instanceId: req.params.id, publicKey } };
  });
  router.get('/v1/channels/:name/keys', (req) => ({
    json: cas.channelKeys(req.peerCertificate, req.params.name ?? ''),
  }));
}
