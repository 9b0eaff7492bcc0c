// Shared set-up of the SCBR tests: a CAS CA issuing the router's service certificate, CURVE
// identities admitted on the SCBR channels, a group key, and a transport wrapper that records
// every message the router receives.
import { randomBytes } from 'node:crypto';
import type { CurveBusIdentity, RouterSocket, StaticKeyDirectory, Transport } from '../../src/bus/index.ts';
import type { RouterSigner } from '../../src/bus/scbr/index.ts';
import { CasCa } from '../../src/cas/index.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { createStaticKeyDirectory, entry, identity } from './bus-fixture.ts';

/** A router signer with a certificate issued by `ca` for `service`. */
export function routerSigner(ca: CasCa, service = 'scbr-router', instanceId = 'r1'): RouterSigner {
  const { privateKey, publicKey } = freshKeyPair('p256');
  const certificatePem = ca.issueServiceCertificate(service, instanceId, publicKey);
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { name: service, instanceId, certificatePem, simulation: true, tlsOptions: () => ({ key }) };
}

/** Everything an SCBR test needs. */
export interface ScbrWorld {
  readonly ca: CasCa;
  readonly signer: RouterSigner;
  readonly directory: StaticKeyDirectory;
  readonly router: CurveBusIdentity;
  readonly publisher: CurveBusIdentity;
  readonly subscriber: CurveBusIdentity;
  readonly groupKey: string;
}

/** Identities for the router, one publisher service and one subscriber service, admitted by role. */
export function scbrWorld(): ScbrWorld {
  const ca = CasCa.create();
  const router = identity('scbr-router');
  const publisher = identity('meter-gateway');
  const subscriber = identity('billing');
  const directory = createStaticKeyDirectory({
    'scbr.publish': [entry(router, ['replier']), entry(publisher, ['requester'])],
    'scbr.subscribe': [entry(router, ['replier']), entry(subscriber, ['requester'])],
  });
  return {
    ca,
    signer: routerSigner(ca),
    directory,
    router,
    publisher,
    subscriber,
    groupKey: randomBytes(32).toString('hex'),
  };
}

/** Wraps a transport so that every message its router sockets receive is also pushed to `log`. */
export function recordingTransport(inner: Transport, log: Uint8Array[][]): Transport {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'createRouter') return Reflect.get(target, prop, receiver);
      return (options: Parameters<Transport['createRouter']>[0]) =>
        tapRouter(target.createRouter(options), log);
    },
  });
}

function tapRouter(socket: RouterSocket, log: Uint8Array[][]): RouterSocket {
  return new Proxy(socket, {
    get(target, prop, receiver) {
      if (prop === Symbol.asyncIterator) {
        return async function* () {
          for await (const frames of target) {
            log.push(frames.map((f) => new Uint8Array(f)));
            yield frames;
          }
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Whether `needle` occurs in `haystack`. */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  return (
    Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength).indexOf(Buffer.from(needle)) >= 0
  );
}
