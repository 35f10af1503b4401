// Redis Cluster's key -> slot mapping (cluster spec: CRC16-CCITT/XMODEM of the key, or of its hash
// tag, modulo 16384), to check that keys which one script or MULTI touches share a slot without a
// Redis Cluster at hand.

/** CRC16 as Redis Cluster computes it (polynomial 0x1021, initial value 0). */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The hash slot of a key: only the part between the first `{` and the next `}` counts, if not empty. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key)) % 16384;
}
