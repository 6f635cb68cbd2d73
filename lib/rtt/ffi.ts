/**
 * Every native symbol of the `web4_rtt` library, in one table.
 *
 * Each parameter carries a comment with its C type. Every call is
 * synchronous (the library starts no thread and opens no socket: this
 * module's driver owns the I/O, see `core.ts`). Buffers are owned by the
 * caller and only used during the call; the library never hands out
 * pointers to its own memory, so nothing here needs
 * `Deno.UnsafePointerView`. Lengths are `u32` and results `i32` (V8's fast
 * call path); handles of nodes and sessions are `u64` (BigInt); connection
 * ids and channel ids are `u32`; time is `f64` milliseconds of
 * `performance.now()`.
 *
 * @module
 */

/**
 * The ABI version this TypeScript module was written against. A library that
 * reports another version is refused at load time.
 */
export const EXPECTED_ABI_VERSION = 8;
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

/**
 * The parameters of both receive calls (`web4_rtt_channel_recv` and
 * `web4_rtt_channel_recv_message`): node, session, channel, the buffer,
 * its capacity, and the `u32` the size of the next record is written to.
 */
const _RECV_PARAMETERS = ["u64", "u64", "u32", "buffer", "u32", "buffer"] as const;

/** The FFI symbol table of `web4_rtt` (ABI version 7). */
export const symbols = {
  ...probeSymbols,
  /** `uint32_t web4_rtt_last_error(uint8_t *buf, uint32_t cap)`: this thread's last error text; full length. */
  web4_rtt_last_error: { parameters: ["buffer", "u32"], result: "u32" },
  /**
   * `int32_t web4_rtt_key_fingerprint(const uint8_t *pem, uint32_t len,
   * uint8_t *out_hex64)`: fingerprint of a PKCS#8 Ed25519 PEM, written as 64
   * lowercase hex characters into the caller's 64-byte `out_hex64`.
   */
  web4_rtt_key_fingerprint: {
    parameters: [
      "buffer", // const uint8_t *pem
      "u32", // uint32_t len
      "buffer", // uint8_t *out_hex64 (64 bytes)
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_node_create(const uint8_t *json, uint32_t len, uint64_t *out_node)`. */
  web4_rtt_node_create: {
    parameters: [
      "buffer", // const uint8_t *json
      "u32", // uint32_t len
      "buffer", // uint64_t *out_node
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_node_free(uint64_t node)`: ends every session (`shutdown`) and frees the node. */
  web4_rtt_node_free: { parameters: ["u64"], result: "i32" },
  /** `int32_t web4_rtt_node_shutdown(uint64_t node)`: ends every session (`shutdown`); the node stays pollable. */
  web4_rtt_node_shutdown: { parameters: ["u64"], result: "i32" },
  /** `int32_t web4_rtt_node_status(uint64_t node)`: bit 0 events queued, bit 1 output waiting. */
  web4_rtt_node_status: { parameters: ["u64"], result: "i32" },
  /** `int32_t web4_rtt_node_poll(uint64_t node, uint8_t *buf, uint32_t cap)`: event records; bytes written. */
  web4_rtt_node_poll: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_node_timeout(uint64_t node, double now_ms)`: runs the timers due. */
  web4_rtt_node_timeout: { parameters: ["u64", "f64"], result: "i32" },
  /** `double web4_rtt_node_next_deadline(uint64_t node)`: next timer (ms), -1 for none. */
  web4_rtt_node_next_deadline: { parameters: ["u64"], result: "f64" },
  /** `int32_t web4_rtt_node_next_transmit(uint64_t node)`: a connection with output (now busy), or 0. */
  web4_rtt_node_next_transmit: { parameters: ["u64"], result: "i32" },
  /** `int32_t web4_rtt_node_metrics(uint64_t node, uint8_t *buf, uint32_t cap)`: JSON; full length. */
  web4_rtt_node_metrics: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_conn_accept(uint64_t node, double now_ms)`: a new inbound connection's id. */
  web4_rtt_conn_accept: { parameters: ["u64", "f64"], result: "i32" },
  /**
   * `int32_t web4_rtt_conn_accept_from(uint64_t node, double now_ms, const
   * uint8_t *addr, uint32_t len)`: a new inbound connection's id; the
   * per-address limits key on `addr` (UTF-8, at most 256 bytes).
   */
  web4_rtt_conn_accept_from: {
    parameters: [
      "u64", // uint64_t node
      "f64", // double now_ms
      "buffer", // const uint8_t *addr
      "u32", // uint32_t len
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_conn_connect(uint64_t node, const uint8_t *fp,
   * uint32_t len, uint32_t timeout_ms, double now_ms)`: a new outbound
   * connection's id; CONNECTED or CONNECT_FAILED follows with it as `op`.
   */
  web4_rtt_conn_connect: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // const uint8_t *fp (64 ASCII hex bytes)
      "u32", // uint32_t len
      "u32", // uint32_t timeout_ms
      "f64", // double now_ms
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_conn_resume(uint64_t node, uint64_t session, double now_ms)`: after DIAL. */
  web4_rtt_conn_resume: { parameters: ["u64", "u64", "f64"], result: "i32" },
  /** `int32_t web4_rtt_dial_failed(uint64_t node, uint64_t session, double now_ms)`. */
  web4_rtt_dial_failed: { parameters: ["u64", "u64", "f64"], result: "i32" },
  /**
   * `int32_t web4_rtt_conn_input(uint64_t node, uint32_t conn, uint8_t *buf,
   * uint32_t off, uint32_t len, double now_ms)`: received bytes (decrypted in
   * place: the buffer is overwritten).
   */
  web4_rtt_conn_input: {
    parameters: [
      "u64", // uint64_t node
      "u32", // uint32_t conn
      "buffer", // uint8_t *buf (overwritten)
      "u32", // uint32_t off
      "u32", // uint32_t len
      "f64", // double now_ms
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_conn_input_poll(uint64_t node, uint32_t conn, uint8_t
   * *buf, uint32_t off, uint32_t len, double now_ms, uint8_t *events,
   * uint32_t events_cap)`: `web4_rtt_conn_input` and `web4_rtt_node_poll` in
   * one call; event bytes written, bit 30 output waiting, bit 29 events left.
   */
  web4_rtt_conn_input_poll: {
    parameters: [
      "u64", // uint64_t node
      "u32", // uint32_t conn
      "buffer", // uint8_t *buf (overwritten)
      "u32", // uint32_t off
      "u32", // uint32_t len
      "f64", // double now_ms
      "buffer", // uint8_t *events
      "u32", // uint32_t events_cap
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_node_transmit(uint64_t node, uint8_t *buf, uint32_t
   * cap, double now_ms, uint32_t *out_conn)`: `web4_rtt_node_next_transmit`
   * and `web4_rtt_conn_transmit` in one call (for a driver with no write in
   * flight); the connection's id through `out_conn` (0: none); the result as
   * `web4_rtt_conn_transmit`'s, bit 28 more connections wait.
   */
  web4_rtt_node_transmit: {
    parameters: [
      "u64", // uint64_t node
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
      "f64", // double now_ms
      "buffer", // uint32_t *out_conn
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_conn_transmit(uint64_t node, uint32_t conn, uint8_t
   * *buf, uint32_t cap, double now_ms)`: bytes to write; 0 ends the busy state.
   */
  web4_rtt_conn_transmit: {
    parameters: [
      "u64", // uint64_t node
      "u32", // uint32_t conn
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
      "f64", // double now_ms
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_conn_closed(uint64_t node, uint32_t conn, double now_ms)`: the socket ended. */
  web4_rtt_conn_closed: { parameters: ["u64", "u32", "f64"], result: "i32" },
  /** `int32_t web4_rtt_session_stats(uint64_t node, uint64_t session, uint8_t *buf, uint32_t cap)`. */
  web4_rtt_session_stats: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t session
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_session_open_channel(uint64_t node, uint64_t session,
   * const uint8_t *json, uint32_t len, uint32_t *out_channel)`.
   */
  web4_rtt_session_open_channel: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t session
      "buffer", // const uint8_t *json
      "u32", // uint32_t len
      "buffer", // uint32_t *out_channel
    ],
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_session_close(uint64_t node, uint64_t session, uint32_t
   * deadline_ms, uint32_t why, double now_ms)`: graceful close; `why` 0 gives
   * reason `manual`, 1 `shutdown`.
   */
  web4_rtt_session_close: { parameters: ["u64", "u64", "u32", "u32", "f64"], result: "i32" },
  /**
   * `int32_t web4_rtt_session_set_budget(uint64_t node, uint64_t session,
   * uint64_t receive_bytes, int32_t protected)`: the bytes the session may
   * hold received and unread (0 keeps the current budget) and whether it is
   * protected from eviction (1 yes, 0 no, -1 unchanged); returns the status
   * bits (as `web4_rtt_node_status`) on success.
   */
  web4_rtt_session_set_budget: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t session
      "u64", // uint64_t receive_bytes
      "i32", // int32_t protected
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_session_release(uint64_t node, uint64_t session)`: frees a closed session. */
  web4_rtt_session_release: { parameters: ["u64", "u64"], result: "i32" },
  /**
   * `int32_t web4_rtt_channel_send(uint64_t node, uint64_t session, uint32_t
   * channel, const uint8_t *buf, uint32_t off, uint32_t len)`: copies the bytes.
   */
  web4_rtt_channel_send: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // uint8_t *buf (overwritten)
      "u32", // uint32_t off
      "u32", // uint32_t len
    ],
    result: "i32",
  },
  /** As `web4_rtt_channel_send`, after WOULD_BLOCK: OK or WOULD_BLOCK again. */
  web4_rtt_channel_retry_send: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // uint8_t *buf (overwritten)
      "u32", // uint32_t off
      "u32", // uint32_t len
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_channel_block_timeout(uint64_t node, uint64_t session, uint32_t channel)`. */
  web4_rtt_channel_block_timeout: { parameters: ["u64", "u64", "u32"], result: "i32" },
  /**
   * `int32_t web4_rtt_channel_recv(uint64_t node, uint64_t session, uint32_t
   * channel, uint8_t *buf, uint32_t cap, uint32_t *out_needed)`: whole
   * messages as `[u32 len LE][bytes]` records; bytes written.
   */
  web4_rtt_channel_recv: {
    parameters: _RECV_PARAMETERS,
    result: "i32",
  },
  /**
   * `int32_t web4_rtt_channel_recv_message(uint64_t node, uint64_t session,
   * uint32_t channel, uint8_t *buf, uint32_t cap, uint32_t *out_needed)`: the
   * next message alone (no length prefix) when it fits, so a large one is
   * copied once, into a buffer of its exact size; bytes written (0: nothing,
   * too large, or empty); `*out_needed` as `web4_rtt_channel_recv`'s.
   */
  web4_rtt_channel_recv_message: {
    parameters: _RECV_PARAMETERS,
    result: "i32",
  },
  /** `int32_t web4_rtt_channel_flush(uint64_t node, uint64_t session, uint32_t channel)`: op id (> 0). */
  web4_rtt_channel_flush: { parameters: ["u64", "u64", "u32"], result: "i32" },
  /** `int32_t web4_rtt_channel_stats(uint64_t node, uint64_t session, uint32_t channel, uint8_t *buf, uint32_t cap)`. */
  web4_rtt_channel_stats: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t session
      "u32", // uint32_t channel
      "buffer", // uint8_t *buf
      "u32", // uint32_t cap
    ],
    result: "i32",
  },
  /** `int32_t web4_rtt_channel_close(uint64_t node, uint64_t session, uint32_t channel)`: half-close. */
  web4_rtt_channel_close: { parameters: ["u64", "u64", "u32"], result: "i32" },
  /**
   * `int32_t web4_rtt_test_inject(uint64_t node, uint64_t session, const
   * uint8_t *json, uint32_t len)`: a test hook. Optional: only a library
   * built with the `test-hooks` cargo feature exports it (tests and the
   * benchmark build one into `target/hooks/`); release builds omit it, and
   * it is `null` then.
   */
  web4_rtt_test_inject: {
    parameters: [
      "u64", // uint64_t node
      "u64", // uint64_t session
      "buffer", // const uint8_t *json
      "u32", // uint32_t len
    ],
    result: "i32",
    optional: true,
  },
  /**
   * `int32_t web4_rtt_config_limits(uint8_t *buf, uint32_t cap)`: every
   * numeric config field's default and range as JSON
   * `[{"name","default","min","max"}]` (written only if it fits); its full
   * length. The source `lib/rtt/limits.ts` is generated from.
   */
  web4_rtt_config_limits: { parameters: ["buffer", "u32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library, typed by {@linkcode symbols}. */
export type NativeSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Native status codes (ABI version 7). */
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

/** Event record kinds of `web4_rtt_node_poll` (ABI version 7). */
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
  DIAL: 16,
  CLOSE_CONN: 17,
} as const;
