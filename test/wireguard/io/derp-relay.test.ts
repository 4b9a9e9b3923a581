import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClock } from '../../../src/runtime/clock.js';
import { createLogger } from '../../../src/runtime/log.js';
import { Scheduler } from '../../../src/runtime/loop.js';
import { SeededRng } from '../../../src/runtime/rng.js';
import { toHex } from '../../../src/runtime/bytes.js';
import { WgDerpRelay } from '../../../src/wireguard/io/derp-relay.js';
import { startRelay, type TestRelay } from '../../derp/support/relay.js';
import { waitFor } from '../../support/netns.js';
import { keyPair } from '../device-harness.js';

describe('WgDerpRelay: the WireGuard key is the DERP node key (loopback relay)', () => {
  let relay: TestRelay;
  const clock = new SystemClock();
  const scheduler = new Scheduler(clock);
  const log = createLogger({ level: 'silent', pretty: false });
  const rng = new SeededRng(42);
  const got: { src: string; data: string }[] = [];
  let x: WgDerpRelay;
  let y: WgDerpRelay;

  beforeAll(async () => {
    relay = await startRelay();
    x = new WgDerpRelay({ url: relay.url, clock, log, scheduler, onPacket: () => undefined });
    y = new WgDerpRelay({ url: relay.url, clock, log, scheduler, onPacket: (src, data) => got.push({ src: toHex(src), data: toHex(data) }) });
  });
  afterAll(async () => {
    await x.close();
    await y.close();
    scheduler.stop();
    await relay.close();
  });

  it('delivers a datagram to the node addressed by its WireGuard public key, from the sender WireGuard public key', async () => {
    const kx = keyPair(rng);
    const ky = keyPair(rng);
    x.setPrivateKey(kx.privateKey);
    y.setPrivateKey(ky.privateKey);
    expect(await waitFor(() => x.connected && y.connected, 10_000)).toBe(true);
    expect(x.send(ky.publicKey, Uint8Array.of(1, 2, 3))).toBe(true);
    expect(await waitFor(() => got.length === 1, 5_000)).toBe(true);
    expect(got[0]).toEqual({ src: toHex(kx.publicKey), data: '010203' });
  });

  it('reconnects under the new key when the private key changes, and disconnects when it is removed', async () => {
    const ky = keyPair(rng);
    y.setPrivateKey(ky.privateKey);
    const kx2 = keyPair(rng);
    x.setPrivateKey(kx2.privateKey);
    expect(await waitFor(() => x.connected && y.connected, 10_000)).toBe(true);
    got.length = 0;
    expect(x.send(ky.publicKey, Uint8Array.of(9))).toBe(true);
    expect(await waitFor(() => got.length === 1, 5_000)).toBe(true);
    expect(got[0]!.src).toBe(toHex(kx2.publicKey));
    x.setPrivateKey(undefined);
    expect(x.connected).toBe(false);
    expect(x.send(ky.publicKey, Uint8Array.of(9))).toBe(false);
  });
});
