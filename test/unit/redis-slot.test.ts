// The slot computation the Redis Cluster checks rely on, against the cluster specification's examples.
import { describe, expect, it } from 'vitest';
import { crc16, keySlot } from '../helpers/redis-slot.ts';

describe('Redis Cluster key slots', () => {
  it('computes CRC16/XMODEM and the slots Redis documents', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    // An empty tag does not count: the whole key is hashed.
    expect(keySlot('foo{}{bar}')).toBe(crc16(Buffer.from('foo{}{bar}')) % 16384);
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot('foo{bar}{zap}')).toBe(keySlot('bar'));
  });
});
