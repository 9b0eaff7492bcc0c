// The hex test vectors of docs/metering-protocol.md, recomputed from fixed seeds and compared.
// To print them after a deliberate format change: PRINT_VECTORS=1 node --import tsx --test this file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  encodeInstantaneousCommand,
  encodeInstantaneousResponse,
  encodeLoadProfileCommand,
  encodeRegistersCommand,
  rawPublicKey,
} from '../../src/metering/index.ts';
import { MDC, METER, pair, sampleReport, T0 } from './protocol-fixture.ts';

function computeVectors(): Record<string, Uint8Array> {
  const { meter, mdc, handshake } = pair({}, 'vectors');
  const { hello, accept, finish } = handshake();
  const report = encodeInstantaneousResponse(sampleReport());
  const ack = encodeInstantaneousCommand('000001');
  return {
    'meter-public-key': rawPublicKey(METER.publicKey),
    'mdc-public-key': rawPublicKey(MDC.publicKey),
    'command-0x14': encodeInstantaneousCommand('123456'),
    'command-0x21': encodeRegistersCommand('123456'),
    'command-0x52': encodeLoadProfileCommand({ readerSerial: '123456', start: T0, count: 4 }),
    'response-0x14': report,
    hello,
    accept,
    finish,
    'data-up-1': meter.seal(report),
    'data-down-1': mdc.seal('00012345', ack),
  };
}

function docVectors(): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/metering-protocol.md', import.meta.url), 'utf8');
  const found = new Map<string, string>();
  for (const m of doc.matchAll(/<!-- vector: ([a-z0-9-]+) -->\s*```text\n([0-9a-f\s]+)```/g)) {
    found.set(m[1] ?? '', (m[2] ?? '').replace(/\s+/g, ''));
  }
  return found;
}

describe('documented test vectors', () => {
  const vectors = computeVectors();
  if (process.env.PRINT_VECTORS) {
    for (const [name, bytes] of Object.entries(vectors)) {
      const hex = Buffer.from(bytes)
        .toString('hex')
        .replace(/(.{64})/g, '$1\n')
        .trim();
      console.log(`<!-- vector: ${name} -->\n\`\`\`text\n${hex}\n\`\`\`\n`);
    }
  }
  const documented = docVectors();
  for (const [name, bytes] of Object.entries(vectors)) {
    it(`reproduces the documented ${name} vector`, () => {
      assert.equal(documented.get(name), Buffer.from(bytes).toString('hex'), `vector ${name}`);
    });
  }
  it('documents no vector that the test does not compute', () => {
    assert.deepEqual([...documented.keys()].sort(), Object.keys(vectors).sort());
  });
});
