/**
 * Every native symbol of the `web4_rtt` library, in one table.
 *
 * Each parameter carries a comment with its C type. Buffer ownership is
 * stated per symbol; `docs/rtt.md` documents the whole ABI.
 *
 * @module
 */

/**
 * The ABI version this TypeScript module was written against. A library that
 * reports another version is refused at load time.
 */
export const EXPECTED_ABI_VERSION = 1;

/** The FFI symbol table of `web4_rtt`. */
export const symbols = {
  /** `uint32_t web4_rtt_abi_version(void)` */
  web4_rtt_abi_version: { parameters: [], result: "u32" },
  /**
   * `size_t web4_rtt_version(uint8_t *buf, size_t cap)`: copies the version
   * (UTF-8, no NUL) into the caller-owned `buf` (at most `cap` bytes) and
   * returns its full length. The library keeps no reference to `buf`.
   */
  web4_rtt_version: { parameters: ["buffer", "usize"], result: "usize" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library, typed by {@linkcode symbols}. */
export type NativeSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];
