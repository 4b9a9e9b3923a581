import { describe, expect, it } from 'vitest';
import { parseTunOffload } from '../../../src/wireguard/io/tun-offload.js';

describe('TSPLANE_TUN_OFFLOAD', () => {
  it.each([
    [undefined, 'tso+gro'],
    ['', 'tso+gro'],
    ['on', 'tso+gro'],
    ['1', 'tso+gro'],
    [' ON ', 'tso+gro'],
    ['tso+gro', 'tso+gro'],
    ['tso', 'tso'],
    ['off', 'off'],
    ['0', 'off'],
    ['yes', undefined],
    ['gro', undefined],
  ])('%j means %j', (text, mode) => {
    expect(parseTunOffload(text)).toBe(mode);
  });
});
