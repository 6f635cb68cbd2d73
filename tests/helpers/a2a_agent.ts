// An A2A agent for tests and for docs/a2a.md: the @a2a-js/sdk reference server (its DefaultRequestHandler, an
// InMemoryTaskStore and its JsonRpcTransportHandler) behind Deno.serve on loopback, with an
// executor that answers. The HTTP adaptor does what the SDK's express handlers do (the card at
// /.well-known/agent-card.json, the A2A-Version check, the JSON-RPC body to the transport
// handler), since express itself is not installed here.
import { AgentCard, type Message, Role, type Task, TaskState } from "npm:@a2a-js/sdk@^1.3.0";
import {
  AgentEvent,
  type AgentExecutor,
  DefaultRequestHandler,
  defaultServerCallContextBuilder,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  UnauthenticatedUser,
  validateVersion,
} from "npm:@a2a-js/sdk@^1.3.0/server";

/** How the test agent answers a question. */
export type Answer =
  | { kind: "message"; text: string }
  | { kind: "task"; text: string; state?: TaskState };

/** Options of {@linkcode startA2aAgent}. */
export interface A2aAgentOptions {
  /** The answer to a question (default: a message echoing a fixed fact). */
  answer?: (question: string) => Answer;
  /** Rewrites the card after it is built (a card pointing elsewhere, ...), or answers instead. */
  card?: (card: Record<string, unknown>, origin: string) => Record<string, unknown> | Response;
  /** The loopback port. @default {0} (any free port) */
  port?: number;
  /** Replaces the JSON-RPC endpoint's HTTP response (oversized, slow, malformed, ...). */
  rpc?: (req: Request) => Response | Promise<Response> | undefined;
}

/** A running test agent. */
export interface A2aAgent extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  readonly origin: string;
  /** The questions the agent's executor answered, in order. */
  readonly asked: string[];
  /** Every request path the server saw (card and RPC). */
  readonly seen: string[];
}

/** The fact the default executor states. */
export const FACT = "Water boils at 100 degrees Celsius at sea level.";

/**
 * Starts the SDK's reference server on a free loopback port.
 *
 * @param options The answer, a card rewrite, an RPC override.
 * @returns The running agent.
 */
export function startA2aAgent(options: A2aAgentOptions = {}): A2aAgent {
  const asked: string[] = [];
  const seen: string[] = [];
  const answer = options.answer ?? (() => ({ kind: "message", text: FACT }));
  let origin = "";
  const executor: AgentExecutor = {
    execute(ctx, bus) {
      const question = ctx.userMessage.parts.map((p) =>
        p.content?.$case === "text" ? p.content.value : ""
      ).join("");
      asked.push(question);
      const a = answer(question);
      const reply: Message = {
        messageId: crypto.randomUUID(),
        contextId: ctx.contextId,
        taskId: a.kind === "task" ? ctx.taskId : "",
        role: Role.ROLE_AGENT,
        parts: [{
          content: { $case: "text", value: a.text },
          metadata: undefined,
          filename: "",
          mediaType: "text/plain",
        }],
        metadata: undefined,
        extensions: [],
        referenceTaskIds: [],
      };
      if (a.kind === "message") {
        bus.publish(AgentEvent.message(reply));
      } else {
        const task: Task = {
          id: ctx.taskId,
          contextId: ctx.contextId,
          status: {
            state: a.state ?? TaskState.TASK_STATE_COMPLETED,
            message: reply,
            timestamp: undefined,
          },
          artifacts: [],
          history: [],
          metadata: undefined,
        };
        bus.publish(AgentEvent.task(task));
      }
      bus.finished();
      return Promise.resolve();
    },
    cancelTask() {
      return Promise.resolve();
    },
  };
  const card = (): AgentCard =>
    AgentCard.fromJSON({
      name: "Boiling points",
      description: "Answers questions about boiling points",
      version: "1.0.0",
      supportedInterfaces: [{
        url: `${origin}/a2a/jsonrpc`,
        protocolBinding: "JSONRPC",
        protocolVersion: "1.0",
      }],
      capabilities: { streaming: false, pushNotifications: false },
      defaultInputModes: ["text/plain"],
      defaultOutputModes: ["text/plain"],
      skills: [{
        id: "boil",
        name: "Boiling points",
        description: "Boiling points of liquids",
        tags: ["science"],
      }],
    });
  const handler = new DefaultRequestHandler(card(), new InMemoryTaskStore(), executor);
  const transport = new JsonRpcTransportHandler(handler);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 0, onListen() {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      seen.push(path);
      if (req.method === "GET" && path === "/.well-known/agent-card.json") {
        const json = AgentCard.toJSON(card()) as Record<string, unknown>;
        const body = options.card === undefined ? json : options.card(json, origin);
        return body instanceof Response ? body : Response.json(body);
      }
      if (req.method === "POST" && path === "/a2a/jsonrpc") {
        const replaced = await options.rpc?.(req);
        if (replaced !== undefined) return replaced;
        const requestedVersion = req.headers.get("a2a-version");
        const context = defaultServerCallContextBuilder({
          extensions: undefined,
          user: new UnauthenticatedUser(),
          headers: Object.fromEntries(req.headers),
          ...(requestedVersion === null ? {} : { requestedVersion }),
        });
        try {
          validateVersion(context.requestedVersion, await handler.getAgentCard(), "JSONRPC");
        } catch (err) {
          return Response.json({
            jsonrpc: "2.0",
            id: null,
            error: JsonRpcTransportHandler.mapToJSONRPCError(err),
          });
        }
        const result = await transport.handle(await req.text(), context);
        return Response.json(result);
      }
      return new Response("not found", { status: 404 });
    },
  );
  origin = `http://127.0.0.1:${server.addr.port}`;
  return {
    origin,
    asked,
    seen,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

// `deno run --allow-net=127.0.0.1 tests/helpers/a2a_agent.ts [PORT]`: the agent of docs/a2a.md,
// until Ctrl-C.
if (import.meta.main) {
  const agent = startA2aAgent({ port: Number(Deno.args[0] ?? 0) });
  console.log(`a2a agent on ${agent.origin} (card ${agent.origin}/.well-known/agent-card.json)`);
}
