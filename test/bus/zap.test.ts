import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ChannelRegistry,
  type ChannelRole,
  decideZap,
  parseZapRequest,
  startZapHandler,
  type ZapDecision,
  z85Decode,
  zapReplyFrames,
} from '../../src/bus/index.ts';
import { createStaticKeyDirectory, entry, identity } from './bus-fixture.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

const mdc = identity('mdc');
const billing = identity('billing');
const directory = createStaticKeyDirectory({
  readings: [entry(mdc, ['publisher']), entry(billing, ['subscriber'])],
});
const subscribersOnly = (domain: string): ReadonlySet<ChannelRole> | undefined =>
  domain === 'readings' ? new Set<ChannelRole>(['subscriber']) : undefined;

/** A ZAP request as libzmq sends it, behind a router envelope. */
function request(
  options: { version?: string; domain?: string; mechanism?: string; credentials?: Uint8Array[] } = {},
): Uint8Array[] {
  return [
    enc('peer'),
    new Uint8Array(0),
    enc(options.version ?? '1.0'),
    enc('7'),
    enc(options.domain ?? 'readings'),
    enc('127.0.0.1'),
    new Uint8Array(0),
    enc(options.mechanism ?? 'CURVE'),
    ...(options.credentials ?? [z85Decode(billing.publicKey)!]),
  ];
}

const decide = (frames: Uint8Array[]) => decideZap(parseZapRequest(frames)!, directory, subscribersOnly);

describe('unit: ZAP handler decisions', () => {
  it('admits a listed CURVE key with the role the channel needs', async () => {
    const d = await decide(request());
    assert.equal(d.admitted, true);
    assert.equal(d.service, 'billing');
    assert.equal(d.publicKey, billing.publicKey);
  });

  it('refuses the NULL and PLAIN mechanisms', async () => {
    for (const mechanism of ['NULL', 'PLAIN']) {
      const d = await decide(request({ mechanism, credentials: [] }));
      assert.deepEqual([d.admitted, d.reason], [false, 'mechanism-not-curve']);
    }
  });

  it('refuses a key that is not listed', async () => {
    const d = await decide(request({ credentials: [z85Decode(identity('billing').publicKey)!] }));
    assert.deepEqual([d.admitted, d.reason], [false, 'key-unknown']);
  });

  it('refuses a listed key without the needed role', async () => {
    const d = await decide(request({ credentials: [z85Decode(mdc.publicKey)!] }));
    assert.deepEqual([d.admitted, d.reason, d.service], [false, 'role-not-allowed', 'mdc']);
  });

  it('refuses a domain where nothing of ours is bound', async () => {
    const d = await decide(request({ domain: 'alarms' }));
    assert.deepEqual([d.admitted, d.reason], [false, 'no-socket-on-channel']);
  });

  it('refuses malformed requests: wrong version, missing or short key', async () => {
    for (const frames of [
      request({ version: '2.0' }),
      request({ credentials: [] }),
      request({ credentials: [new Uint8Array(31)] }),
    ]) {
      assert.equal((await decide(frames)).reason, 'malformed-request');
    }
    assert.equal(parseZapRequest([enc('no delimiter')]), undefined);
  });

  it('answers 300 (temporary) when the directory fails', async () => {
    const failing = { find: () => Promise.reject(new Error('CAS down')) };
    const d = await decideZap(parseZapRequest(request())!, failing, subscribersOnly);
    assert.equal(d.reason, 'directory-unavailable');
    assert.equal(dec(zapReplyFrames(enc('7'), d)[2]), '300');
  });

  it('replies per RFC 27 with the status, the reason and the admitted identity', async () => {
    const admitted = zapReplyFrames(enc('7'), await decide(request()));
    assert.deepEqual(admitted.slice(0, 5).map(dec), [
      '1.0',
      '7',
      '200',
      'OK',
      `billing/${billing.credential.instanceId}`,
    ]);
    const refused = zapReplyFrames(enc('7'), await decide(request({ mechanism: 'NULL', credentials: [] })));
    assert.deepEqual(refused.slice(2, 5).map(dec), ['400', 'mechanism-not-curve', '']);
  });
});

describe('unit: ZAP handler loop', () => {
  it('answers every request behind its envelope and logs refusals with the reason', async () => {
    const inbox = [request(), request({ mechanism: 'NULL', credentials: [] })];
    const sent: Uint8Array[][] = [];
    const logged: string[] = [];
    const decisions: ZapDecision[] = [];
    let done!: () => void;
    const allSent = new Promise<void>((r) => {
      done = r;
    });
    const handler = startZapHandler({
      socket: {
        closed: false,
        receive: async () => {
          const next = inbox.shift();
          if (next === undefined) throw new Error('closed');
          return next;
        },
        send: async (frames) => {
          sent.push(frames);
          if (sent.length === 2) done();
        },
      },
      directory,
      peerRoles: subscribersOnly,
      logger: { log: (level, msg, fields) => logged.push(`${level} ${msg} ${fields?.reason}`) },
      onDecision: (d) => decisions.push(d),
    });
    await handler.done;
    await allSent;
    assert.deepEqual(
      sent.map((f) => dec(f[0])),
      ['peer', 'peer'],
    );
    assert.deepEqual(sent.map((f) => dec(f[4])).sort(), ['200', '400']);
    assert.ok(logged.some((l) => l.startsWith('warn bus peer refused mechanism-not-curve')));
    assert.equal(decisions.length, 2);
  });
});

describe('unit: channel registry', () => {
  it('admits the peer roles of the sockets bound on a channel, until they close', () => {
    const registry = new ChannelRegistry();
    assert.equal(registry.peerRoles('readings'), undefined);
    const forgetPub = registry.register('readings', 'publisher');
    const forgetRep = registry.register('readings', 'reply');
    assert.deepEqual([...registry.peerRoles('readings')!].sort(), ['requester', 'subscriber']);
    forgetPub();
    assert.deepEqual([...registry.peerRoles('readings')!], ['requester']);
    forgetRep();
    assert.equal(registry.peerRoles('readings'), undefined);
  });
});
