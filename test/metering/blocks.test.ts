import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CMD_INSTANTANEOUS,
  crc16Arc,
  decodeCommandFrame,
  decodeInstantaneousCommand,
  decodeInstantaneousResponse,
  decodeLoadProfileCommand,
  decodeLoadProfileResponse,
  decodeRegistersCommand,
  decodeRegistersResponse,
  encodeInstantaneousCommand,
  encodeInstantaneousResponse,
  encodeLoadProfileCommand,
  encodeLoadProfileResponse,
  encodeRegistersCommand,
  encodeRegistersResponse,
  isMeteringError,
  type MeteringErrorCode,
} from '../../src/metering/index.ts';
import { decodeBcd, decodeBcdTime, encodeBcd, encodeBcdTime } from '../../src/metering/protocol/bcd.ts';
import { writeU64BE } from '../../src/metering/protocol/field-codec.ts';
import { prng } from '../support/prng.ts';
import { sampleReport, T0 } from './protocol-fixture.ts';

const refusedWith = (code: MeteringErrorCode) => (e: unknown) => isMeteringError(e, code);

/** Recomputes the CRC after an edit, so that the field check (not the CRC) is what refuses. */
function reCrc(block: Uint8Array): Uint8Array {
  const crc = crc16Arc(block, 0, block.length - 2);
  block[block.length - 2] = crc & 0xff;
  block[block.length - 1] = crc >>> 8;
  return block;
}

describe('CRC-16/ARC', () => {
  it('gives the standard check value 0xBB3D for "123456789"', () => {
    assert.equal(crc16Arc(new TextEncoder().encode('123456789')), 0xbb3d);
  });
  it('is sent low byte first at the end of each block', () => {
    const block = encodeInstantaneousCommand('123456');
    const crc = crc16Arc(block, 0, 64);
    assert.equal(block[64], crc & 0xff);
    assert.equal(block[65], crc >>> 8);
  });
});

describe('NBR 14522 blocks', () => {
  it('round-trips the 0x14 command and response', () => {
    const cmd = encodeInstantaneousCommand('123456');
    assert.equal(cmd.length, 66);
    assert.equal(cmd[0], CMD_INSTANTANEOUS);
    assert.deepEqual(decodeInstantaneousCommand(cmd), { readerSerial: '123456' });
    const report = sampleReport();
    const block = encodeInstantaneousResponse(report);
    assert.equal(block.length, 258);
    assert.deepEqual(decodeInstantaneousResponse(block), report);
  });

  it('round-trips the 0x21 registers command and response', () => {
    assert.deepEqual(decodeRegistersCommand(encodeRegistersCommand('000001')), { readerSerial: '000001' });
    const regs = {
      meterSerial: '87654321',
      timestamp: T0,
      activeImportWh: 2 ** 40,
      activeExportWh: 7,
      reactiveInductiveVarh: 123,
      reactiveCapacitiveVarh: 0,
      maxDemandW: 5250.5,
      maxDemandTime: T0 - 3600_000,
    };
    assert.deepEqual(decodeRegistersResponse(encodeRegistersResponse(regs)), regs);
  });

  it('round-trips the 0x52 load-profile command and response', () => {
    const req = { readerSerial: '000002', start: T0 - 2 * 3600_000, count: 8 };
    assert.deepEqual(decodeLoadProfileCommand(encodeLoadProfileCommand(req)), req);
    const profile = {
      meterSerial: '00012345',
      start: T0,
      intervalMinutes: 15 as const,
      records: Array.from({ length: 30 }, (_, i) => ({ activeWh: i * 100, reactiveVarh: i - 15 })),
    };
    assert.deepEqual(decodeLoadProfileResponse(encodeLoadProfileResponse(profile)), profile);
  });

  it('refuses truncated and oversized blocks with ERR_BLOCK_LENGTH', () => {
    const block = encodeInstantaneousResponse(sampleReport());
    assert.throws(() => decodeInstantaneousResponse(block.subarray(0, 257)), refusedWith('ERR_BLOCK_LENGTH'));
    assert.throws(() => decodeInstantaneousResponse(new Uint8Array(259)), refusedWith('ERR_BLOCK_LENGTH'));
    assert.throws(() => decodeCommandFrame(new Uint8Array(0)), refusedWith('ERR_BLOCK_LENGTH'));
  });

  it('refuses a block whose CRC does not match with ERR_BLOCK_CRC', () => {
    const block = encodeInstantaneousResponse(sampleReport());
    block[100] = (block[100] ?? 0) ^ 1;
    assert.throws(
      () => decodeInstantaneousResponse(block),
      (e: unknown) => {
        assert.ok(isMeteringError(e, 'ERR_BLOCK_CRC'));
        assert.equal(e.detail.check, 'response-crc');
        return true;
      },
    );
  });

  it('refuses another command code with ERR_BLOCK_CODE', () => {
    assert.throws(
      () => decodeRegistersCommand(encodeInstantaneousCommand('123456')),
      refusedWith('ERR_BLOCK_CODE'),
    );
  });

  it('refuses NaN, out-of-range floats, bad BCD and non-zero reserved bytes with ERR_BLOCK_FIELD', () => {
    const nan = encodeInstantaneousResponse(sampleReport());
    new DataView(nan.buffer, nan.byteOffset).setFloat32(5 + 6, Number.NaN, true);
    assert.throws(() => decodeInstantaneousResponse(reCrc(nan)), refusedWith('ERR_BLOCK_FIELD'));
    const freq = encodeInstantaneousResponse(sampleReport());
    new DataView(freq.buffer, freq.byteOffset).setFloat32(5 + 6 + 34 * 4, 99, true);
    assert.throws(() => decodeInstantaneousResponse(reCrc(freq)), refusedWith('ERR_BLOCK_FIELD'));
    const bcd = encodeInstantaneousResponse(sampleReport());
    bcd[1] = 0xaa;
    assert.throws(() => decodeInstantaneousResponse(reCrc(bcd)), refusedWith('ERR_BLOCK_FIELD'));
    const reserved = encodeInstantaneousResponse(sampleReport());
    reserved[250] = 1;
    assert.throws(() => decodeInstantaneousResponse(reCrc(reserved)), refusedWith('ERR_BLOCK_FIELD'));
    const date = encodeInstantaneousResponse(sampleReport());
    date[5 + 1] = 0x13; // month 13
    assert.throws(() => decodeInstantaneousResponse(reCrc(date)), refusedWith('ERR_BLOCK_FIELD'));
  });

  it('throws a TypeError when the encoder is misused', () => {
    assert.throws(() => encodeInstantaneousResponse({ ...sampleReport(), frequency: Number.NaN }), TypeError);
    assert.throws(() => encodeInstantaneousCommand('12345'), TypeError);
  });
});

describe('packed BCD', () => {
  it('round-trips every time of 2000-2099 it is given, to the second', () => {
    const rand = prng(7);
    const lo = Date.UTC(2000, 0, 1);
    const hi = Date.UTC(2100, 0, 1) - 1000;
    const buf = new Uint8Array(8);
    for (let i = 0; i < 5000; i++) {
      const ms = lo + Math.floor((rand() * (hi - lo)) / 1000) * 1000;
      encodeBcdTime(ms, buf, 1, 't');
      const d = new Date(ms);
      const digits = [d.getUTCFullYear() - 2000, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours()]
        .concat([d.getUTCMinutes(), d.getUTCSeconds()])
        .map((v) => String(v).padStart(2, '0'))
        .join('');
      assert.equal(decodeBcd(buf, 1, 6, 't'), digits);
      assert.equal(decodeBcdTime(buf, 1, 't'), ms);
    }
    for (const ms of [lo, hi, Date.UTC(2024, 1, 29, 23, 59, 59)]) {
      encodeBcdTime(ms, buf, 0, 't');
      assert.equal(decodeBcdTime(buf, 0, 't'), ms);
    }
    assert.throws(() => encodeBcdTime(Date.UTC(1999, 11, 31), buf, 0, 't'), TypeError);
    assert.throws(() => encodeBcdTime(Date.UTC(2024, 0, 1) + 1, buf, 0, 't'), TypeError);
  });

  it('decodes each byte value to its two digits or refuses it with ERR_BLOCK_FIELD', () => {
    for (let b = 0; b < 256; b++) {
      const hi = b >>> 4;
      const lo = b & 0x0f;
      if (hi <= 9 && lo <= 9) assert.equal(decodeBcd(Uint8Array.of(b), 0, 1, 'f'), `${hi}${lo}`);
      else assert.throws(() => decodeBcd(Uint8Array.of(b), 0, 1, 'f'), refusedWith('ERR_BLOCK_FIELD'));
    }
    const buf = new Uint8Array(3);
    encodeBcd('012399', buf, 0, 'f');
    assert.deepEqual([...buf], [0x01, 0x23, 0x99]);
    for (const bad of ['1', '12a4', '1/', ':0', '１２'])
      assert.throws(() => encodeBcd(bad, buf, 0, 'f'), TypeError);
  });

  it('refuses impossible date-times and bad nibbles in a time with ERR_BLOCK_FIELD', () => {
    const cases = [
      [0x24, 0x02, 0x30, 0x00, 0x00, 0x00], // 30 February
      [0x24, 0x00, 0x01, 0x00, 0x00, 0x00], // month 0
      [0x24, 0x01, 0x01, 0x24, 0x00, 0x00], // hour 24
      [0x24, 0x01, 0x01, 0x00, 0x60, 0x00], // minute 60
      [0x24, 0x01, 0x01, 0x00, 0x00, 0x60], // second 60
      [0x24, 0x01, 0x01, 0x00, 0x0a, 0x00], // nibble above 9
    ];
    for (const c of cases) {
      assert.throws(
        () => decodeBcdTime(Uint8Array.from(c), 0, 't'),
        refusedWith('ERR_BLOCK_FIELD'),
        String(c),
      );
    }
  });
});

describe('64-bit big-endian counters', () => {
  it('writes every safe integer as Buffer.writeBigUInt64BE does', () => {
    const rand = prng(3);
    const values = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 48 + 5, Number.MAX_SAFE_INTEGER];
    for (let i = 0; i < 1000; i++) values.push(Math.floor(rand() * Number.MAX_SAFE_INTEGER));
    for (const v of values) {
      const mine = new Uint8Array(10);
      writeU64BE(mine, 1, v);
      const ref = Buffer.alloc(10);
      ref.writeBigUInt64BE(BigInt(v), 1);
      assert.deepEqual(Buffer.from(mine), ref, String(v));
    }
  });
});
