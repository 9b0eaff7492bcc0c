import * as zlib from 'node:zlib';

/** CRC-32 (IEEE 802.3, the zlib/PNG one) of `data`, continuing from `value` (0 to start). */
export type Crc32 = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | undefined;

/** Table-driven CRC-32 for Node.js releases before 20.15, which lack `zlib.crc32`. Same results. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  if (table === undefined) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// zlib.crc32 (Node.js 20.15+, 22.2+) runs the native, vectorised zlib code: about 10x the portable one.
const native = (zlib as { crc32?: Crc32 }).crc32;

/** CRC-32 of `data` continuing from `value`: zlib's native one when present, else the portable one. */
export const crc32: Crc32 = typeof native === 'function' ? native : crc32Portable;
