/**
 * The root of every error class web4-runtime throws for conditions callers
 * catch. Each family (identity, envelope, transport, store, the protocol
 * runtimes, router, agent, mesh) derives its classes from
 * {@linkcode Web4Error} with a literal union of its codes; plain argument
 * mistakes use the built-in `TypeError` and `RangeError`.
 *
 * @example Catching by family, then by the root
 * ```ts
 * import { AgentError } from "@web4/runtime";
 * import { Web4Error } from "@web4/runtime/errors";
 * import assert from "node:assert/strict";
 *
 * function explain(err: unknown): string {
 *   if (err instanceof AgentError) return `agent: ${err.code}`; // code: AgentErrorCode
 *   if (err instanceof Web4Error) return `web4: ${err.code}`; // any family: code is a string
 *   throw err; // not a condition web4-runtime reports
 * }
 * assert.equal(explain(new AgentError("TIMEOUT", "No answer within 30 s")), "agent: TIMEOUT");
 * assert.equal(explain(new Web4Error("EXAMPLE", "Something else")), "web4: EXAMPLE");
 * ```
 *
 * @module
 */

/**
 * Options accepted by {@linkcode Web4Error} and its subclasses. A family
 * extends this interface with its data fields (`peer`, `path`, `topic`,
 * ...): the base constructor makes each of them a field of the error.
 */
export interface Web4ErrorOptions {
  /** The underlying error, if this one wraps another. */
  cause?: unknown;
}

/**
 * Base class of the project's typed errors. Every instance carries a stable,
 * machine-readable `code` (such as `"FINGERPRINT_MISMATCH"`) next to a
 * human-readable message, and its class name as `name`.
 *
 * A family is a short declaration: `C` is the literal union of its codes and
 * `O` its options; every option except `cause` becomes a field of the error
 * of the same name (declare it with `declare readonly` to type it). An option
 * never replaces `code`, `name`, `message`, `stack` or `cause`.
 *
 * `instanceof Web4Error` narrows to `Web4Error<string>`, so `code` is a
 * `string` on the family root and its family's union on a subclass.
 *
 * @typeParam C The codes of the family.
 * @typeParam O The options of the family's constructor.
 *
 * @example Catching by class and code
 * ```ts
 * import { Web4Error } from "@web4/runtime/errors";
 * import assert from "node:assert/strict";
 *
 * const err = new Web4Error("EXAMPLE", "Something named went wrong");
 * assert.ok(err instanceof Error);
 * assert.equal(err.code, "EXAMPLE");
 * assert.equal(err.name, "Web4Error");
 * ```
 *
 * @example Declaring a family
 * ```ts
 * import { Web4Error, type Web4ErrorOptions } from "@web4/runtime/errors";
 * import assert from "node:assert/strict";
 *
 * type LinkErrorCode = "DOWN" | "SLOW";
 * interface LinkErrorOptions extends Web4ErrorOptions {
 *   peer?: string | undefined;
 * }
 * class LinkError extends Web4Error<LinkErrorCode, LinkErrorOptions> {
 *   declare readonly peer: string | undefined;
 * }
 *
 * const err = new LinkError("DOWN", "Link to ab12 is down", { peer: "ab12" });
 * assert.equal(err.name, "LinkError");
 * assert.equal(err.peer, "ab12");
 * assert.ok(err instanceof Web4Error);
 * ```
 */
export class Web4Error<
  C extends string = string,
  O extends Web4ErrorOptions = Web4ErrorOptions,
> extends Error {
  /** Stable machine-readable code; see the docs of each family. */
  readonly code: C;

  /**
   * Creates an error.
   *
   * @param code Stable machine-readable code.
   * @param message Human-readable message naming the offending value.
   * @param options Optional `cause` and the family's data fields.
   */
  constructor(code: C, message: string, options?: O) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options === undefined) return;
    for (const [key, value] of Object.entries(options)) {
      if (key === "cause" || key in this) continue;
      Object.defineProperty(this, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }

  /**
   * Makes `instanceof` narrow to the class's own instance type: without it,
   * TypeScript narrows `err instanceof Web4Error` to `Web4Error<any, any>`,
   * which erases the code union. The test itself is the standard one.
   *
   * @param value The value on the left of `instanceof`.
   * @returns Whether `value` is an instance of the class it is called on.
   */
  static override [Symbol.hasInstance]<T>(
    this: abstract new (...args: never[]) => T,
    value: unknown,
  ): value is T {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}
