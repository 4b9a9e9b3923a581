/**
 * WireGuard constants. "Specification constants" come from the whitepaper (§6.4 "Timers" table,
 * §5.4 message layouts) and the reference implementations agree on them; "implementation
 * constants" are caps and rates of wireguard-go (`device/constants.go`, `ratelimiter/`) or the
 * kernel (`src/messages.h`, `src/cookie.h`) that are not part of the wire protocol. See
 * docs/wireguard.md §1.1 and §1.6 for the source table.
 */

// ---------------------------------------------------------------------------------------------
// Specification constants: timers and counters (whitepaper §6.4; wg-go constants.go)
// ---------------------------------------------------------------------------------------------

/** After this many messages on a keypair the sender starts a new handshake (whitepaper §6.4: 2^60). */
export const REKEY_AFTER_MESSAGES = 2n ** 60n;
/** A keypair is unusable once its counter reaches this (whitepaper §6.4: 2^64 − 2^13 − 1; wg-go RejectAfterMessages). */
export const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
/** The initiator of the current keypair rehandshakes when sending on a keypair older than this (whitepaper §6.4: 120 s). */
export const REKEY_AFTER_TIME_MS = 120_000;
/** No packet is sent or accepted on a keypair older than this (whitepaper §6.4: 180 s). */
export const REJECT_AFTER_TIME_MS = 180_000;
/** How long handshake retries continue before giving up (whitepaper §6.4: 90 s). */
export const REKEY_ATTEMPT_TIME_MS = 90_000;
/** Handshake retransmit interval, before jitter (whitepaper §6.4: 5 s). */
export const REKEY_TIMEOUT_MS = 5_000;
/** Passive keepalive delay (whitepaper §6.4: 10 s). */
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Cookie secret lifetime, and how long a received cookie may be used (whitepaper §6.4 / §5.4.7: 120 s). */
export const COOKIE_REFRESH_TIME_MS = 120_000;

// ---------------------------------------------------------------------------------------------
// Implementation constants (caps, rates and jitter; not on the wire)
// ---------------------------------------------------------------------------------------------

/** Random jitter added to REKEY_TIMEOUT, upper bound exclusive (wg-go timers.go: rand 0..333 ms; kernel HZ/3). */
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334;
/** Retransmits before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT (wg-go MaxTimerHandshakes = 18). */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS;
/** Incoming handshake queue capacity (wg-go QueueHandshakeSize = 1024). */
export const MAX_QUEUED_HANDSHAKES = 1024;
/** "Under load" when the handshake queue holds at least this many (wg-go UnderLoadQueueSize = 1024/8). */
export const UNDER_LOAD_QUEUE_SIZE = MAX_QUEUED_HANDSHAKES / 8;
/** "Under load" persists this long after the last trigger (wg-go UnderLoadAfterTime = 1 s). */
export const UNDER_LOAD_AFTER_TIME_MS = 1_000;
/**
 * Our "under load" trigger: handshake messages per second, counted by UnderLoadDetector. The
 * queue-depth rule of wg-go (1/8 of 1024 queued) has no equivalent in a single-threaded core,
 * so this follows boringtun (HANDSHAKE_RATE_LIMIT = 100 per second, noise/rate_limiter.rs).
 */
export const UNDER_LOAD_HANDSHAKES_PER_SECOND = 100;
/** Packets staged per peer while no keypair exists; oldest dropped first (wg-go/kernel MAX_STAGED_PACKETS = 128). */
export const MAX_STAGED_PACKETS = 128;
/** Maximum number of peers per device (wg-go MaxPeers = 2^16). */
export const MAX_PEERS = 1 << 16;
/** Initiations accepted per peer per second (kernel INITIATIONS_PER_SECOND = 50; wg-go HandshakeInitationRate = 1 s/50). */
export const INITIATIONS_PER_SECOND = 50;
/** Minimum spacing between two consumed initiations of one peer (1000 / INITIATIONS_PER_SECOND = 20 ms). */
export const INITIATION_MIN_INTERVAL_MS = 1000 / INITIATIONS_PER_SECOND;
/** Zero all keys this long after the last session was derived (wg-go: RejectAfterTime × 3 = 540 s). */
export const ZERO_KEY_MATERIAL_AFTER_MS = REJECT_AFTER_TIME_MS * 3;
/**
 * A received cookie is used for mac2 only this long after it arrived: COOKIE_REFRESH_TIME minus a
 * latency allowance, so we stop before the responder's secret can have rotated (kernel
 * COOKIE_SECRET_MAX_AGE − COOKIE_SECRET_LATENCY = 120 − 5 s; wg-go uses the full 120 s).
 */
export const COOKIE_SECRET_LATENCY_MS = 5_000;
/** Handshake rate limiter under load: tokens refilled per second per source (wg-go ratelimiter packetsPerSecond = 20). */
export const RATELIMITER_PACKETS_PER_SECOND = 20;
/** Handshake rate limiter bucket size (wg-go ratelimiter packetsBurstable = 5). */
export const RATELIMITER_PACKETS_BURSTABLE = 5;
/** Rate limiter entries idle longer than this are forgotten (wg-go ratelimiter garbageCollectTime = 1 s). */
export const RATELIMITER_GC_INTERVAL_MS = 1_000;
/** Cap on tracked sources; new sources are refused when full (kernel ratelimiter max_entries is bounded likewise). */
export const RATELIMITER_MAX_ENTRIES = 65_536;

// ---------------------------------------------------------------------------------------------
// Message types and sizes (whitepaper §5.4.2–§5.4.6; docs/wireguard.md §1.1). All integers LE.
// ---------------------------------------------------------------------------------------------

/** Byte 0 of every message; bytes 1..3 are zero. */
export const MESSAGE_TYPE_INITIATION = 1;
export const MESSAGE_TYPE_RESPONSE = 2;
export const MESSAGE_TYPE_COOKIE_REPLY = 3;
export const MESSAGE_TYPE_TRANSPORT = 4;

/**
 * Handshake initiation, exactly 148 bytes:
 * type(4) ‖ sender(4) ‖ ephemeral(32) ‖ enc static(32+16) ‖ enc timestamp(12+16) ‖ mac1(16) ‖ mac2(16)
 */
export const MESSAGE_INITIATION_SIZE = 148;
/** Handshake response, exactly 92 bytes: type(4) ‖ sender(4) ‖ receiver(4) ‖ ephemeral(32) ‖ enc empty(0+16) ‖ mac1(16) ‖ mac2(16) */
export const MESSAGE_RESPONSE_SIZE = 92;
/** Cookie reply, exactly 64 bytes: type(4) ‖ receiver(4) ‖ nonce(24) ‖ enc cookie(16+16) */
export const MESSAGE_COOKIE_REPLY_SIZE = 64;
/** Transport header: type(4) ‖ receiver(4) ‖ counter(8, LE u64); the AEAD ciphertext follows. */
export const MESSAGE_TRANSPORT_HEADER_SIZE = 16;
/** Smallest transport message: header + 16-byte tag (a keepalive). */
export const MESSAGE_TRANSPORT_MIN_SIZE = 32;
/** Per-packet overhead of transport encapsulation: header + tag. */
export const MESSAGE_TRANSPORT_OVERHEAD_BYTES = 32;
/** Transport plaintext is zero-padded to a multiple of this, capped at the MTU (whitepaper §5.4.6). */
export const PADDING_MULTIPLE_BYTES = 16;
/** Default tunnel MTU: 1500 − 80 (wg-go DefaultMTU, kernel device.c). */
export const DEFAULT_MTU_BYTES = 1420;

// Field offsets inside handshake messages.
export const INITIATION_SENDER_OFFSET = 4;
export const INITIATION_EPHEMERAL_OFFSET = 8;
export const INITIATION_STATIC_OFFSET = 40;
export const INITIATION_TIMESTAMP_OFFSET = 88;
export const INITIATION_MAC1_OFFSET = 116;
export const INITIATION_MAC2_OFFSET = 132;
export const RESPONSE_SENDER_OFFSET = 4;
export const RESPONSE_RECEIVER_OFFSET = 8;
export const RESPONSE_EPHEMERAL_OFFSET = 12;
export const RESPONSE_EMPTY_OFFSET = 44;
export const RESPONSE_MAC1_OFFSET = 60;
export const RESPONSE_MAC2_OFFSET = 76;
export const COOKIE_REPLY_RECEIVER_OFFSET = 4;
export const COOKIE_REPLY_NONCE_OFFSET = 8;
export const COOKIE_REPLY_COOKIE_OFFSET = 32;
export const TRANSPORT_RECEIVER_OFFSET = 4;
export const TRANSPORT_COUNTER_OFFSET = 8;
export const TRANSPORT_CONTENT_OFFSET = 16;

/** Encrypted static key: 32-byte public key + 16-byte tag. */
export const ENCRYPTED_STATIC_BYTES = 48;
/** TAI64N timestamp: 8-byte BE seconds + 4-byte BE nanoseconds. */
export const TAI64N_BYTES = 12;
/** Encrypted timestamp: 12 + 16-byte tag. */
export const ENCRYPTED_TIMESTAMP_BYTES = 28;
/** Encrypted empty payload of a response: tag only. */
export const ENCRYPTED_NOTHING_BYTES = 16;
/** Cookie: MAC output of 16 bytes. */
export const COOKIE_BYTES = 16;
/** Encrypted cookie: 16 + 16-byte tag. */
export const ENCRYPTED_COOKIE_BYTES = 32;

// ---------------------------------------------------------------------------------------------
// Noise strings (whitepaper §5.4; ASCII, no terminator)
// ---------------------------------------------------------------------------------------------

/** CONSTRUCTION: the Noise protocol name (37 bytes). */
export const NOISE_CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
/** IDENTIFIER: mixed into H0 (34 bytes). */
export const WG_IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
/** LABEL_MAC1 (8 bytes). */
export const WG_LABEL_MAC1 = 'mac1----';
/** LABEL_COOKIE (8 bytes). */
export const WG_LABEL_COOKIE = 'cookie--';
