import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/runtime/clock.js';
import type { Rng } from '../../src/runtime/rng.js';
import { PeerTimers, type TimerAction } from '../../src/wireguard/timers.js';
import { KEEPALIVE_TIMEOUT_MS, MAX_TIMER_HANDSHAKES, REJECT_AFTER_TIME_MS, REKEY_TIMEOUT_MS, ZERO_KEY_MATERIAL_AFTER_MS } from '../../src/wireguard/constants.js';

/** An Rng that always yields the same byte, so jitter is fixed and known. */
class ConstantRng implements Rng {
  constructor(readonly byte: number) {}
  fill(out: Uint8Array): Uint8Array {
    return out.fill(this.byte);
  }
}

type Step =
  | { at: number; event: 'dataSent' | 'dataReceived' | 'sent' | 'received' | 'traversal' | 'initiated' | 'complete' | 'derived' }
  | { at: number; event: 'persistent'; intervalMs: number }
  | { at: number; poll: TimerAction['type'][] };

function run(steps: Step[], rng: Rng = new ConstantRng(0)): { timers: PeerTimers; clock: ManualClock } {
  const clock = new ManualClock(0, 0);
  const t = new PeerTimers(rng);
  for (const s of steps) {
    clock.advance(s.at - clock.monotonicMs());
    const now = clock.monotonicMs();
    if ('poll' in s) {
      expect(t.poll(now).map((a) => a.type), `poll at ${s.at}`).toEqual(s.poll);
      continue;
    }
    switch (s.event) {
      case 'dataSent': t.dataSent(now); break;
      case 'dataReceived': t.dataReceived(now); break;
      case 'sent': t.anyAuthenticatedPacketSent(now); break;
      case 'received': t.anyAuthenticatedPacketReceived(); break;
      case 'traversal': t.anyAuthenticatedPacketTraversal(now); break;
      case 'initiated': t.handshakeInitiated(now); break;
      case 'complete': t.handshakeComplete(); break;
      case 'derived': t.sessionDerived(now); break;
      case 'persistent': t.setPersistentKeepalive(s.intervalMs, now); break;
    }
  }
  return { timers: t, clock };
}

const K = KEEPALIVE_TIMEOUT_MS;
const R = REKEY_TIMEOUT_MS;

describe('PeerTimers event sequences', () => {
  const table: [string, Step[]][] = [
    ['nothing armed, nothing due', [{ at: 1e9, poll: [] }]],
    ['retransmits an initiation REKEY_TIMEOUT after it was sent', [
      { at: 0, event: 'initiated' },
      { at: R - 1, poll: [] },
      { at: R, poll: ['retransmitHandshake'] },
      { at: R + 1, poll: [] },
    ]],
    ['a completed handshake disarms the retransmit', [
      { at: 0, event: 'initiated' },
      { at: 100, event: 'complete' },
      { at: 10 * R, poll: [] },
    ]],
    ['passive keepalive KEEPALIVE_TIMEOUT after data received with nothing sent', [
      { at: 0, event: 'dataReceived' },
      { at: K - 1, poll: [] },
      { at: K, poll: ['sendKeepalive'] },
    ]],
    ['any packet sent in the meantime cancels the passive keepalive', [
      { at: 0, event: 'dataReceived' },
      { at: 5000, event: 'sent' },
      { at: 2 * K, poll: [] },
    ]],
    ['data received while the keepalive is pending owes one more keepalive after it', [
      { at: 0, event: 'dataReceived' },
      { at: 3000, event: 'dataReceived' },
      { at: K, poll: ['sendKeepalive'] },
      { at: K, event: 'sent' }, // the keepalive itself goes out
      { at: 2 * K - 1, poll: [] },
      { at: 2 * K, poll: ['sendKeepalive'] },
      { at: 2 * K, event: 'sent' },
      { at: 4 * K, poll: [] },
    ]],
    ['new handshake when data was sent but nothing came back for KEEPALIVE + REKEY_TIMEOUT', [
      { at: 0, event: 'dataSent' },
      { at: 1000, event: 'dataSent' }, // arms only if idle: the deadline stays at 15 s
      { at: K + R - 1, poll: [] },
      { at: K + R, poll: ['newHandshake'] },
    ]],
    ['any authenticated packet received cancels the new-handshake timer', [
      { at: 0, event: 'dataSent' },
      { at: 2000, event: 'received' },
      { at: 60_000, poll: [] },
    ]],
    ['persistent keepalive fires after the interval of silence and re-arms on traversal', [
      { at: 0, event: 'persistent', intervalMs: 25_000 },
      { at: 10_000, event: 'traversal' },
      { at: 34_999, poll: [] },
      { at: 35_000, poll: ['sendKeepalive'] },
      { at: 35_000, event: 'traversal' },
      { at: 60_000, poll: ['sendKeepalive'] },
    ]],
    ['persistent keepalive off: traversal arms nothing', [
      { at: 0, event: 'traversal' },
      { at: 1e6, poll: [] },
    ]],
    ['keys are zeroed 3 × REJECT_AFTER_TIME after the last session was derived', [
      { at: 0, event: 'derived' },
      { at: 100_000, event: 'derived' },
      { at: 100_000 + 3 * REJECT_AFTER_TIME_MS - 1, poll: [] },
      { at: 100_000 + 3 * REJECT_AFTER_TIME_MS, poll: ['zeroKeyMaterial'] },
    ]],
    ['both keepalive timers due at once give one keepalive', [
      { at: 0, event: 'persistent', intervalMs: K },
      { at: 0, event: 'dataReceived' },
      { at: K, poll: ['sendKeepalive'] },
    ]],
  ];
  it.each(table)('%s', (_name, steps) => {
    run(steps);
  });

  it('gives up after MAX_TIMER_HANDSHAKES retries (REKEY_ATTEMPT_TIME), then zeroes keys later', () => {
    expect(MAX_TIMER_HANDSHAKES).toBe(18);
    const clock = new ManualClock(0, 0);
    const t = new PeerTimers(new ConstantRng(0));
    t.handshakeInitiated(clock.monotonicMs()); // the first, non-retry initiation
    t.dataReceived(clock.monotonicMs());
    let retries = 0;
    for (;;) {
      clock.advance(R);
      const actions = t.poll(clock.monotonicMs()).map((a) => a.type).filter((a) => a !== 'sendKeepalive');
      if (actions[0] === 'retransmitHandshake') {
        retries++;
        t.handshakeInitiated(clock.monotonicMs()); // the retry went out
        continue;
      }
      expect(actions).toEqual(['giveUpHandshake']);
      break;
    }
    // Kernel timers.c: retry while attempts <= MAX_TIMER_HANDSHAKES, so 1 + 19 = 20 initiations
    // ("did not complete after 20 attempts"), then one more REKEY_TIMEOUT of waiting.
    expect(retries).toBe(MAX_TIMER_HANDSHAKES + 1);
    const gaveUpAt = clock.monotonicMs();
    expect(gaveUpAt).toBe(20 * R);
    expect(t.nextDeadline()).toBe(gaveUpAt + ZERO_KEY_MATERIAL_AFTER_MS);
    expect(t.poll(gaveUpAt + ZERO_KEY_MATERIAL_AFTER_MS).map((a) => a.type)).toEqual(['zeroKeyMaterial']);
  });

  it('jitters the retransmit by [0, 334) ms from the injected Rng', () => {
    const lo = run([{ at: 0, event: 'initiated' }], new ConstantRng(0)).timers.nextDeadline();
    const hi = run([{ at: 0, event: 'initiated' }], new ConstantRng(0x80)).timers.nextDeadline();
    expect(lo).toBe(R);
    expect(hi).toBeGreaterThan(R);
    expect(hi).toBeLessThan(R + 334);
  });

  it('reports the earliest armed deadline and none after stop()', () => {
    const { timers } = run([
      { at: 0, event: 'derived' },
      { at: 0, event: 'dataReceived' },
      { at: 0, event: 'initiated' },
    ]);
    expect(timers.nextDeadline()).toBe(R);
    timers.stop();
    expect(timers.nextDeadline()).toBeUndefined();
  });
});
