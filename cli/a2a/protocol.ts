/**
 * The A2A wire as `@a2a-js/sdk` 1.3 speaks it (protocol 1.0, JSON-RPC
 * binding): method names, error codes, task states, and the pure parsing
 * and rendering of requests and tasks. Protocol 0.3 spellings
 * (`message/send`, `tasks/get`, `tasks/cancel`, lowercase states,
 * `kind` discriminators) are accepted too and answered in 0.3's shape,
 * since the difference is a name table and a renderer (docs/a2a.md).
 *
 * Nothing here does I/O; the server (`./server.ts`) reads bodies and
 * writes responses, the gateway (`./gateway.ts`) decides.
 *
 * @module
 */

import { Web4Error } from "../../lib/errors/mod.ts";

/** JSON-RPC and A2A error codes (A2A 1.0 §JSON-RPC errors; the SDK's `A2A_ERROR_CODE`). */
export const A2A_ERRORS = Object.freeze({
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  TASK_NOT_FOUND: -32001,
  TASK_NOT_CANCELABLE: -32002,
  PUSH_NOTIFICATION_NOT_SUPPORTED: -32003,
  UNSUPPORTED_OPERATION: -32004,
  CONTENT_TYPE_NOT_SUPPORTED: -32005,
  /** Implementation-defined (the -32000..-32099 server range): a client's task quota is full. */
  QUOTA: -32050,
});

/** The task states of A2A 1.0, as the wire spells them. */
export type TaskState =
  | "TASK_STATE_SUBMITTED"
  | "TASK_STATE_WORKING"
  | "TASK_STATE_COMPLETED"
  | "TASK_STATE_FAILED"
  | "TASK_STATE_CANCELED"
  | "TASK_STATE_INPUT_REQUIRED"
  | "TASK_STATE_REJECTED";

/** States a task never leaves. */
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  "TASK_STATE_COMPLETED",
  "TASK_STATE_FAILED",
  "TASK_STATE_CANCELED",
  "TASK_STATE_REJECTED",
]);

/** The methods the gateway serves, by their 1.0 names. */
export type A2aMethod = "SendMessage" | "SendStreamingMessage" | "GetTask" | "CancelTask";

/** 0.3 JSON-RPC names of the served methods (the SDK's `LEGACY_JSONRPC_TO_V1`). */
const _LEGACY: Readonly<Record<string, A2aMethod>> = Object.freeze({
  "message/send": "SendMessage",
  "message/stream": "SendStreamingMessage",
  "tasks/get": "GetTask",
  "tasks/cancel": "CancelTask",
});

/** A2A methods that exist but are not served, and the error they get. */
const _UNSUPPORTED: Readonly<Record<string, A2aErrorCode>> = Object.freeze({
  SubscribeToTask: "UNSUPPORTED_OPERATION",
  "tasks/resubscribe": "UNSUPPORTED_OPERATION",
  ListTasks: "UNSUPPORTED_OPERATION",
  GetExtendedAgentCard: "UNSUPPORTED_OPERATION",
  "agent/getAuthenticatedExtendedCard": "UNSUPPORTED_OPERATION",
  CreateTaskPushNotificationConfig: "PUSH_NOTIFICATION_NOT_SUPPORTED",
  GetTaskPushNotificationConfig: "PUSH_NOTIFICATION_NOT_SUPPORTED",
  ListTaskPushNotificationConfigs: "PUSH_NOTIFICATION_NOT_SUPPORTED",
  DeleteTaskPushNotificationConfig: "PUSH_NOTIFICATION_NOT_SUPPORTED",
  "tasks/pushNotificationConfig/set": "PUSH_NOTIFICATION_NOT_SUPPORTED",
  "tasks/pushNotificationConfig/get": "PUSH_NOTIFICATION_NOT_SUPPORTED",
  "tasks/pushNotificationConfig/list": "PUSH_NOTIFICATION_NOT_SUPPORTED",
  "tasks/pushNotificationConfig/delete": "PUSH_NOTIFICATION_NOT_SUPPORTED",
});

/** The name of a JSON-RPC error the gateway answers with (a key of {@linkcode A2A_ERRORS}). */
export type A2aErrorCode = keyof typeof A2A_ERRORS;

/**
 * A JSON-RPC error to answer with: `code` names it, `rpcCode` is the
 * number on the wire.
 */
export class A2aRpcError extends Web4Error<A2aErrorCode> {
  /** The JSON-RPC error code on the wire ({@linkcode A2A_ERRORS}). */
  readonly rpcCode: number;
  /** Extra data for the client. */
  readonly data: Record<string, unknown> | undefined;

  /**
   * @param code The error's name.
   * @param message What went wrong, naming the offending value.
   * @param data Extra data.
   */
  constructor(code: A2aErrorCode, message: string, data?: Record<string, unknown>) {
    super(code, message);
    this.rpcCode = A2A_ERRORS[code];
    this.data = data;
  }
}

/** A parsed JSON-RPC call of a served method. */
export interface A2aCall {
  /** The request id (echoed back). */
  id: string | number | null;
  /** The 1.0 name of the method. */
  method: A2aMethod;
  /** Whether the client used the 0.3 spelling (answered in 0.3's shape). */
  legacy: boolean;
  /** The params object. */
  params: Record<string, unknown>;
}

/** The most UTF-8 bytes of a topic (a CIP `INTENT` topic is a label of 256 bytes). */
export const MAX_TOPIC_BYTES = 256;

const _enc = new TextEncoder();

function _isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The id of a JSON-RPC request if it has a usable one, else `null` (what an
 * error answer echoes).
 *
 * @param body The parsed body.
 * @returns The id or `null`.
 */
export function requestIdOf(body: unknown): string | number | null {
  if (!_isObject(body)) return null;
  const id = body.id;
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null;
}

/**
 * Checks a parsed JSON-RPC body and names its method.
 *
 * @param body The parsed JSON body.
 * @returns The call.
 * @throws {A2aRpcError} `INVALID_REQUEST` (not a JSON-RPC 2.0 request
 *   object, batches included), `METHOD_NOT_FOUND`, `UNSUPPORTED_OPERATION` /
 *   `PUSH_NOTIFICATION_NOT_SUPPORTED` for A2A methods not served,
 *   `INVALID_PARAMS` (params not an object).
 *
 * @example
 * ```ts
 * import { parseCall } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const call = parseCall({ jsonrpc: "2.0", id: 1, method: "tasks/get", params: { id: "t" } });
 * assert.equal(call.method, "GetTask");
 * assert.equal(call.legacy, true);
 * assert.throws(() => parseCall([]), { rpcCode: -32600 });
 * assert.throws(() => parseCall({ jsonrpc: "2.0", id: 1, method: "Nope" }), { rpcCode: -32601 });
 * ```
 */
export function parseCall(body: unknown): A2aCall {
  if (!_isObject(body) || body.jsonrpc !== "2.0" || typeof body.method !== "string") {
    throw new A2aRpcError(
      "INVALID_REQUEST",
      'Expected a JSON-RPC 2.0 request object with "jsonrpc": "2.0" and a string "method"',
    );
  }
  const id = body.id;
  if (
    id !== undefined && id !== null && typeof id !== "string" &&
    !(typeof id === "number" && Number.isFinite(id))
  ) {
    throw new A2aRpcError("INVALID_REQUEST", "Expected the id to be a string or a number");
  }
  const name = body.method;
  const legacy = Object.hasOwn(_LEGACY, name);
  const method: A2aMethod | undefined = legacy
    ? _LEGACY[name]
    : name === "SendMessage" || name === "SendStreamingMessage" || name === "GetTask" ||
        name === "CancelTask"
    ? name
    : undefined;
  if (method === undefined) {
    if (Object.hasOwn(_UNSUPPORTED, name)) {
      throw new A2aRpcError(_UNSUPPORTED[name]!, `Method ${name} is not supported by this agent`);
    }
    throw new A2aRpcError(
      "METHOD_NOT_FOUND",
      `Method not found: ${JSON.stringify(name.slice(0, 64))}`,
    );
  }
  const params = body.params ?? {};
  if (!_isObject(params)) {
    throw new A2aRpcError("INVALID_PARAMS", "Expected params to be an object");
  }
  return { id: requestIdOf(body), method, legacy, params };
}

/** What a `SendMessage` asks. */
export interface SentMessage {
  /** The client's message id. */
  messageId: string;
  /** The conversation it belongs to, if named. */
  contextId: string | undefined;
  /** The task it continues, if named. */
  taskId: string | undefined;
  /** The topic: a `data` part's `topic`, the message's `metadata.topic`, else its text. */
  topic: string;
  /** The text of its text parts (joined by a new line). */
  text: string;
}

/**
 * Reads a `SendMessage` (1.0) or `message/send` (0.3) params object.
 *
 * @param params The params.
 * @returns The message.
 * @throws {A2aRpcError} `INVALID_PARAMS` (no message, no parts, no topic, a
 *   topic over {@linkcode MAX_TOPIC_BYTES}), `CONTENT_TYPE_NOT_SUPPORTED` (a
 *   file, raw or url part: the gateway takes text and data only).
 *
 * @example
 * ```ts
 * import { parseSentMessage } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const m = parseSentMessage({
 *   message: { messageId: "m1", role: "ROLE_USER", parts: [{ text: "water" }] },
 * });
 * assert.equal(m.topic, "water");
 * assert.throws(() => parseSentMessage({}), { rpcCode: -32602 });
 * ```
 */
export function parseSentMessage(params: Record<string, unknown>): SentMessage {
  const message = params.message;
  if (!_isObject(message)) {
    throw new A2aRpcError("INVALID_PARAMS", "Expected params.message to be an object");
  }
  const parts = message.parts;
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > 16) {
    throw new A2aRpcError(
      "INVALID_PARAMS",
      "Expected params.message.parts to be an array of 1 to 16 parts",
    );
  }
  const texts: string[] = [];
  let dataTopic: string | undefined;
  for (const part of parts) {
    if (!_isObject(part)) {
      throw new A2aRpcError("INVALID_PARAMS", "Expected every part to be an object");
    }
    if (typeof part.text === "string") texts.push(part.text);
    else if (_isObject(part.data)) {
      if (typeof part.data.topic === "string") dataTopic ??= part.data.topic;
    } else {
      throw new A2aRpcError(
        "CONTENT_TYPE_NOT_SUPPORTED",
        "Only text and data parts are accepted (no files, raw bytes or URLs)",
      );
    }
  }
  const meta = _isObject(message.metadata) ? message.metadata : {};
  const text = texts.join("\n");
  const topic = (dataTopic ?? (typeof meta.topic === "string" ? meta.topic : text)).trim();
  if (topic === "") {
    throw new A2aRpcError("INVALID_PARAMS", "The message names no topic (empty text)");
  }
  if (_enc.encode(topic).length > MAX_TOPIC_BYTES) {
    throw new A2aRpcError(
      "INVALID_PARAMS",
      `The topic is longer than ${MAX_TOPIC_BYTES} UTF-8 bytes`,
    );
  }
  const str = (v: unknown) => typeof v === "string" && v !== "" ? v.slice(0, 128) : undefined;
  return {
    messageId: str(message.messageId) ?? "",
    contextId: str(message.contextId),
    taskId: str(message.taskId),
    topic,
    text,
  };
}

/**
 * Reads the task id of `GetTask`/`CancelTask` params.
 *
 * @param params The params.
 * @returns The id.
 * @throws {A2aRpcError} `INVALID_PARAMS` without a string `id`.
 */
export function taskIdOf(params: Record<string, unknown>): string {
  const id = params.id;
  if (typeof id !== "string" || id === "" || id.length > 128) {
    throw new A2aRpcError("INVALID_PARAMS", "Expected params.id to be a task id");
  }
  return id;
}

/** A task as the gateway keeps it (what {@linkcode renderTask} needs). */
export interface TaskView {
  /** The task id. */
  id: string;
  /** Its conversation. */
  contextId: string;
  /** Its state. */
  state: TaskState;
  /** What the agent says about it: the answer, or why it stands where it does. */
  statusText: string;
  /** The answer, once completed. */
  answer: string | undefined;
  /** When the state last changed (ms since the epoch). */
  updatedMs: number;
}

/** 0.3 spelled states in lowercase kebab case. */
function _legacyState(state: TaskState): string {
  return state.slice("TASK_STATE_".length).toLowerCase().replace("_", "-");
}

/**
 * A task as the wire carries it: 1.0's proto JSON (`TASK_STATE_*`,
 * `ROLE_AGENT`), or 0.3's (`kind: "task"`, lowercase states).
 *
 * @param task The task.
 * @param legacy Whether to answer in 0.3's shape.
 * @returns The JSON object.
 *
 * @example
 * ```ts
 * import { renderTask } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const t = { id: "t", contextId: "c", state: "TASK_STATE_INPUT_REQUIRED" as const,
 *   statusText: "waiting", answer: undefined, updatedMs: 0 };
 * assert.equal((renderTask(t, false).status as { state: string }).state, "TASK_STATE_INPUT_REQUIRED");
 * assert.equal((renderTask(t, true).status as { state: string }).state, "input-required");
 * ```
 */
export function renderTask(task: TaskView, legacy: boolean): Record<string, unknown> {
  const artifacts = task.answer === undefined ? [] : [{
    artifactId: `${task.id}:answer`,
    name: "answer",
    parts: [_textPart(task.answer, legacy)],
  }];
  return {
    ...(legacy ? { kind: "task" } : {}),
    id: task.id,
    contextId: task.contextId,
    status: _status(task, legacy),
    ...(artifacts.length === 0 ? {} : { artifacts }),
  };
}

function _textPart(text: string, legacy: boolean): Record<string, unknown> {
  return legacy ? { kind: "text", text } : { text };
}

function _status(task: TaskView, legacy: boolean): Record<string, unknown> {
  return {
    state: legacy ? _legacyState(task.state) : task.state,
    message: {
      ...(legacy ? { kind: "message" } : {}),
      messageId: `${task.id}:status`,
      role: legacy ? "agent" : "ROLE_AGENT",
      parts: [_textPart(task.statusText, legacy)],
      taskId: task.id,
      contextId: task.contextId,
    },
    timestamp: new Date(task.updatedMs).toISOString(),
  };
}

/**
 * One event of a stream (`SendStreamingMessage`) after the first: the
 * task's new status (1.0's `StreamResponse.statusUpdate`; 0.3's
 * `status-update` with `final`), with the answer as the task when it
 * completed (1.0: `{ task }`, so the client gets the artifact).
 *
 * @param task The task.
 * @param legacy Whether to answer in 0.3's shape.
 * @returns The JSON-RPC result of the event.
 *
 * @example
 * ```ts
 * import { streamUpdate } from "./protocol.ts";
 * import assert from "node:assert/strict";
 *
 * const t = { id: "t", contextId: "c", state: "TASK_STATE_WORKING" as const,
 *   statusText: "deferred", answer: undefined, updatedMs: 0 };
 * assert.ok("statusUpdate" in streamUpdate(t, false));
 * assert.equal(streamUpdate(t, true).kind, "status-update");
 * ```
 */
export function streamUpdate(task: TaskView, legacy: boolean): Record<string, unknown> {
  if (legacy) {
    return {
      kind: "status-update",
      taskId: task.id,
      contextId: task.contextId,
      status: _status(task, true),
      final: TERMINAL_STATES.has(task.state),
    };
  }
  if (task.answer !== undefined) return { task: renderTask(task, false) };
  return {
    statusUpdate: { taskId: task.id, contextId: task.contextId, status: _status(task, false) },
  };
}

/**
 * The JSON-RPC result of a call: `SendMessage` wraps the task
 * (`{ task }`, 1.0's `SendMessageResponse`; a stream's first event too);
 * 0.3 and the other methods answer the task itself.
 *
 * @param call The call.
 * @param task The task.
 * @returns The result object.
 */
export function resultOf(call: A2aCall, task: TaskView): Record<string, unknown> {
  const rendered = renderTask(task, call.legacy);
  const wrapped = call.method === "SendMessage" || call.method === "SendStreamingMessage";
  return wrapped && !call.legacy ? { task: rendered } : rendered;
}
