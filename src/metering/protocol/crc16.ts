/**
 * CRC-16/ARC (also "CRC-16", "CRC-16/LHA"): polynomial 0x8005 processed reflected (0xA001), initial
 * value 0, no final XOR. Check value: `crc16Arc("123456789") === 0xbb3d`. This is the CRC of
 * NBR 14522 blocks.
 */
const TABLE: Uint16Array = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/**
 * CRC-16/ARC of `bytes[start, end)`.
 *
 * @example
 * crc16Arc(new TextEncoder().encode('123456789')); // 0xbb3d
 */
export function crc16Arc(bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (start < 0 || end > bytes.length) throw new RangeError('CRC range outside the bytes');
  let crc = 0;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** Writes the CRC of everything before the last two bytes into them, low byte first. */
export function sealCrc(block: Uint8Array): void {
  const crc = crc16Arc(block, 0, block.length - 2);
  block[block.length - 2] = crc & 0xff;
  block[block.length - 1] = crc >>> 8;
}

/** The CRC stored in the last two bytes of `block` (low byte first). */
export function storedCrc(block: Uint8Array): number {
  return (block[block.length - 2] ?? 0) | ((block[block.length - 1] ?? 0) << 8);
}
