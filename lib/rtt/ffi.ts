/**
 * Every native symbol of the `web4_rtt` library, in one table.
 *
 * Each parameter carries a comment with its C type. Buffer ownership follows
 * one rule (see `docs/rtt.md`, "FFI ABI"): every buffer is owned by the
 * caller and only used during the call, except the data buffer of
 * `web4_rtt_channel_send_blocking`, which the caller keeps alive until that
 * nonblocking call resolves. The library never hands out pointers to its own
 * memory, so nothing here needs `Deno.UnsafePointerView`.
 *
 * @module
 */

/**
 * The ABI version this TypeScript module was written against. A library that
 * reports another version is refused at load time.
 */
export const EXPECTED_ABI_VERSION = 2;

/**
 * The two symbols every ABI version has: enough to check the version before
 * the full table is bound (so an older library is reported as an ABI
 * mismatch, not as a missing symbol).
 */
export const probeSymbols = {
  /** `uint32_t web4_rtt_abi_version(void)` */
  web4_rtt_abi_version: { parameters: [], result: "u32" },
  /**
   * `size_t web4_rtt_version(uint8_t *buf, size_t cap)`: copies the version
   * (UTF-8, no NUL) into the caller-owned `buf` (at most `cap` bytes) and
   * returns its full length.
   */
  web4_rtt_version: { parameters: ["buffer", "usize"], result: "usize" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The FFI symbol table of `web4_rtt` (ABI version 2). */
export const symbols = {
  ...probeSymbols,
  /**
   * `size_t web4_rtt_last_error(uint8_t *buf, size_t cap)`: this thread's
   * last error text, copied into `buf`; returns its full length.
   */
  web4_rtt_last_error: { parameters: ["buffer", "usize"], result: "usize" },
  /**
   * `int32_t web4_rtt_key_fingerprint(const uint8_t *pem, size_t len,
   * uint8_t *out_hex64)`: fingerprint of a PKCS#8 v1 Ed25519 PEM, written as
   * 64 lowercase hex characters into the caller's 64-byte `out_hex64`.
   */
  web4_rtt_key_fingerprint: {
    parameters: [
      "buffer", // const uint8_t *pem
      "usize", // size_t len
      "buffer", // uint8_t *out_hex64 (64 bytes)
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_node_create(const uint8_t *json, size_t len,
   * uint64_t *out_node)`: creates a node from its config JSON.
   */
  web4_rtt_node_create: {
    parameters: [
      "buffer", // const uint8_t *json
      "usize", // size_t len
      "buffer", // uint64_t *out_node
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_node_free(uint64_t node, uint32_t deadline_ms)`: closes
   * every session, joins every thread, closes every socket, unregisters the
   * waker. Blocks up to the deadline.
   */
  web4_rtt_node_free: {
    parameters: [
      "u64", // uint64_t node
      "u32", // uint32_t deadline_ms
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_node_listen(uint64_t node, const uint8_t *host,
   * size_t host_len, uint16_t port, uint16_t *out_port)`: binds synchronously.
   */
  web4_rtt_node_listen: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // const uint8_t *host
      "usize", // size_t host_len
      "u16", // uint16_t port
      "buffer", // uint16_t *out_port
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_node_connect(uint64_t node, const uint8_t *json,
   * size_t len, uint64_t *out_op)`: starts a connect; completes with event
   * CONNECTED or CONNECT_FAILED carrying `*out_op`.
   */
  web4_rtt_node_connect: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // const uint8_t *json
      "usize", // size_t len
      "buffer", // uint64_t *out_op
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_node_cancel(uint64_t node, uint64_t op)`: cancels a pending connect. */
  web4_rtt_node_cancel: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t op
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_node_set_waker(uint64_t node, void (*waker)(void))`:
   * registers (or, with `NULL`, removes) the wake-up callback.
   */
  web4_rtt_node_set_waker: {
    parameters: [
      "u64", // uint64_t node
      "function", // void (*waker)(void)
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_node_wait(uint64_t node, uint32_t timeout_ms)`: blocks
   * until an event is queued (1) or the timeout passes (0). Nonblocking call.
   */
  web4_rtt_node_wait: {
    parameters: [
      "u64", // uint64_t node
      "u32", // uint32_t timeout_ms
    ],
    result: "i32",
    nonblocking: true,
  },
  /**
   * `int64_t web4_rtt_node_poll(uint64_t node, uint8_t *buf, size_t cap)`:
   * copies out as many queued event records as fit; returns bytes written.
   */
  web4_rtt_node_poll: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // uint8_t *buf
      "usize", // size_t cap
    ],
    result: "i64",
  },
  /**
   * `int64_t web4_rtt_node_metrics(uint64_t node, uint8_t *buf, size_t cap)`:
   * metrics JSON; returns its full length.
   */
  web4_rtt_node_metrics: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // uint8_t *buf
      "usize", // size_t cap
    ],
    result: "i64",
  },
  /**
   * `int64_t web4_rtt_session_info(uint64_t session, uint8_t *buf, size_t cap)`:
   * JSON `{"id","peer_fingerprint","local_fingerprint","state"}`; full length.
   */
  web4_rtt_session_info: {
    parameters: [
      "u64", // uint64_t session
      "buffer", // uint8_t *buf
      "usize", // size_t cap
    ],
    result: "i64",
  },
  /**
   * `int64_t web4_rtt_session_stats(uint64_t session, uint8_t *buf, size_t cap)`:
   * stats JSON; full length.
   */
  web4_rtt_session_stats: {
    parameters: [
      "u64", // uint64_t session
      "buffer", // uint8_t *buf
      "usize", // size_t cap
    ],
    result: "i64",
  },
  /**
   * `int32_t web4_rtt_session_open_channel(uint64_t session,
   * const uint8_t *json, size_t len, uint32_t *out_channel)`.
   */
  web4_rtt_session_open_channel: {
    parameters: [
      "u64", // uint64_t session
      "buffer", // const uint8_t *json
      "usize", // size_t len
      "buffer", // uint32_t *out_channel
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_session_close(uint64_t session, uint32_t
   * flush_deadline_ms)`: starts a graceful close; SESSION_CLOSE follows.
   */
  web4_rtt_session_close: {
    parameters: [
      "u64", // uint64_t session
      "u32", // uint32_t flush_deadline_ms
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_session_release(uint64_t session)`: frees a closed session's handle. */
  web4_rtt_session_release: {
    parameters: [
      "u64", // uint64_t session
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_channel_send(uint64_t session, uint32_t channel,
   * const uint8_t *data, size_t len)`: copies `data` into the send queue.
   */
  web4_rtt_channel_send: {
    parameters: [
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // const uint8_t *data
      "usize", // size_t len
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_channel_send_blocking(uint64_t session, uint32_t
   * channel, const uint8_t *data, size_t len, uint32_t timeout_ms)`: after
   * WOULD_BLOCK only; waits for room. Nonblocking call: the caller keeps
   * `data` alive until it resolves.
   */
  web4_rtt_channel_send_blocking: {
    parameters: [
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // const uint8_t *data (kept alive by the caller)
      "usize", // size_t len
      "u32", // uint32_t timeout_ms
    ],
    result: "i32",
    nonblocking: true,
  },
  /**
   * `int64_t web4_rtt_channel_recv(uint64_t session, uint32_t channel,
   * uint8_t *buf, size_t cap, uint64_t *out_needed)`: copies out whole
   * messages as `[u32 len LE][bytes]` records; returns bytes written.
   */
  web4_rtt_channel_recv: {
    parameters: [
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // uint8_t *buf
      "usize", // size_t cap
      "buffer", // uint64_t *out_needed
    ],
    result: "i64",
  },
  /**
   * `int32_t web4_rtt_channel_flush(uint64_t session, uint32_t channel,
   * uint64_t *out_op)`: FLUSHED or FLUSH_FAILED follows with `*out_op`.
   */
  web4_rtt_channel_flush: {
    parameters: [
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // uint64_t *out_op
    ],
    result: "i32",
  },
  /**
   * `int64_t web4_rtt_channel_stats(uint64_t session, uint32_t channel,
   * uint8_t *buf, size_t cap)`: stats JSON; full length.
   */
  web4_rtt_channel_stats: {
    parameters: [
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // uint8_t *buf
      "usize", // size_t cap
    ],
    result: "i64",
  },
  /** `int32_t web4_rtt_channel_close(uint64_t session, uint32_t channel)`: half-close. */
  web4_rtt_channel_close: {
    parameters: [
      "u64", // uint64_t session
      "u32", // uint32_t channel
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_test_inject(uint64_t session, const uint8_t *json,
   * size_t len)`: test hook; INVALID_ARGUMENT unless the node was created
   * with `"test_hooks": true`.
   */
  web4_rtt_test_inject: {
    parameters: [
      "u64", // uint64_t session
      "buffer", // const uint8_t *json
      "usize", // size_t len
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library, typed by {@linkcode symbols}. */
export type NativeSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Native status codes (ABI version 2). */
export const Status = {
  OK: 0,
  INVALID_ARGUMENT: -1,
  UNKNOWN_HANDLE: -2,
  QUEUE_FULL: -3,
  WOULD_BLOCK: -4,
  BLOCK_TIMEOUT: -5,
  MESSAGE_TOO_LARGE: -6,
  TOO_MANY_CHANNELS: -7,
  SESSION_CLOSED: -8,
  CHANNEL_CLOSED: -9,
  IO: -10,
  PROTOCOL: -11,
  INTERNAL: -12,
  SHUT_DOWN: -13,
  BUFFER_TOO_SMALL: -14,
} as const;

/** Event record kinds of `web4_rtt_node_poll` (ABI version 2). */
export const EventKind = {
  ACCEPTED: 1,
  CONNECTED: 2,
  CONNECT_FAILED: 3,
  SESSION_OPEN: 4,
  CONNECTION_LOST: 5,
  HEARTBEAT_TIMEOUT: 6,
  SESSION_CLOSE: 7,
  READABLE: 8,
  WRITABLE: 9,
  DROP: 10,
  REPLAY: 11,
  FLUSHED: 12,
  FLUSH_FAILED: 13,
  REKEY: 14,
  VERIFICATION_FAILURE: 15,
} as const;
