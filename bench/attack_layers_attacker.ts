/**
 * The attacker process of the upper layers' "under attack" rows
 * (`bench/attack_layers.ts`): one attack per process, written as an
 * outsider would, with fresh keys (or the one trusted key it is given) and
 * the public API: an `Agent` of its own over RTT on loopback, `sendFrame`,
 * `signControl`, `encodeFrame`, `proposeFact`, `askToFetch`.
 *
 * Reads one JSON line on standard input, `{"attack":..., "port":...,
 * "fingerprint":..., "ms":..., ...}`, prints `{"ready":true}` once its
 * sessions are up, then runs the attack for `ms` milliseconds and prints
 * one JSON line with what it sent and the refusal codes it got back
 * (`{"sent":..., "codes":{...}}`), then exits.
 *
 * Attacks: `copies` (signed consensus copies maps, a fifth of them from
 * throw-away signers), `adverts` (link-state advertisements each signed by
 * a throw-away key), `relay` (valid relay frames for a known but unroutable
 * node, `far`), `store` (three probing keys sending the largest
 * FACT_PROPOSEs the schemas allow at 90 msg/s each), `fetch-probing` (a
 * probing key's LIP_FETCHes of loopback URLs: an admin page, the victim's
 * port, closed ports), `fetch-trusted` (a trusted key, `pem`, fetching
 * private and loopback addresses).
 *
 * @module
 */

import { Agent, FixedLoadSource } from "../lib/agent/mod.ts";
import { createEnvelope, encodeEnvelope } from "../lib/envelope/mod.ts";
import { Identity } from "../lib/identity/mod.ts";
import { encodeFrame, type RelayFrame } from "../lib/mesh/mod.ts";
import { signControl } from "../lib/mesh/frame.ts";
import { rtt } from "../lib/rtt/mod.ts";

const HOST = "127.0.0.1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const print = (value: unknown) =>
  Deno.stdout.writeSync(encoder.encode(`${JSON.stringify(value)}\n`));

/** What the parent sends. */
interface AttackConfig {
  attack: "copies" | "adverts" | "relay" | "store" | "fetch-probing" | "fetch-trusted";
  port: number;
  fingerprint: string;
  ms: number;
  /** `relay`: the unroutable destination. */
  far?: string;
  /** `fetch-*`: the loopback admin page's origin. */
  admin?: string;
  /** `fetch-trusted`: the trusted key (PKCS#8 PEM). */
  pem?: string;
}

async function firstLine(): Promise<string> {
  const reader = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0]!;
}

const config: AttackConfig = JSON.parse(await firstLine());
const codes: Record<string, number> = {};
let sent = 0;

async function attacker(name: string, identity?: Identity): Promise<Agent> {
  const agent = await Agent.create({
    identity: identity ?? await Identity.generate({ agentId: name }),
    mission: "anything",
    store: ":memory:",
    load: new FixedLoadSource({ cpu: 0.1, memory: 0.1 }),
    loadIntervalMs: 0,
    transport: rtt(),
  });
  agent.on("errorReceived", (e) => {
    codes[String(e.code)] = (codes[String(e.code)] ?? 0) + 1;
  });
  await agent.connect({ hostname: HOST, port: config.port, fingerprint: config.fingerprint });
  return agent;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `step` until the attack's time is up; each step counts as one unit sent. */
async function flood(step: () => Promise<void>, perSecond?: number): Promise<void> {
  const end = Date.now() + config.ms;
  const started = Date.now();
  while (Date.now() < end) {
    try {
      await step();
      sent++;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "send_failed";
      codes[code] = (codes[code] ?? 0) + 1;
      await sleep(5);
    }
    if (perSecond !== undefined) {
      const due = started + (sent * 1000) / perSecond;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  }
}

/** A fact as large as the schemas allow free text (1 KiB strings, 16 trace steps). */
function bulkyFact(i: number, salt: string) {
  const text = (n: number) => `${salt} ${i}.${n} `.padEnd(1000, "x");
  return {
    fact: {
      statement: text(0),
      domain: "water",
      confidence: 0.5,
      sources: [`https://example.org/${salt}/${i}`],
    },
    trace: { steps: Array.from({ length: 16 }, (_, n) => text(n + 1)), evidence: ["lab"] },
  };
}

const agents: Agent[] = [];
const victim = config.fingerprint;
let run: () => Promise<void>;
switch (config.attack) {
  case "copies": {
    const a = await attacker("copier");
    agents.push(a);
    const fp = (i: number) => i.toString(16).padStart(64, "0");
    const map = Object.fromEntries(
      Array.from({ length: 64 }, (_, i) => [fp(i), crypto.randomUUID()]),
    );
    const throwAway = await Promise.all(Array.from({ length: 16 }, () => Identity.generate()));
    run = () =>
      flood(async () => {
        const signer = sent % 5 === 0 ? throwAway[sent % throwAway.length]! : a.identity;
        const frame = await signControl(
          signer,
          { kind: "copies", decision_id: crypto.randomUUID(), copies: map },
          Date.now(),
        );
        await a.sendFrame(victim, "control", encodeFrame(frame));
      });
    break;
  }
  case "adverts": {
    const a = await attacker("advertiser");
    agents.push(a);
    run = () =>
      flood(async () => {
        const k = await Identity.generate();
        const ad = await signControl(
          k,
          { kind: "links", seq: 1, neighbours: [a.fingerprint] },
          Date.now(),
        );
        await a.sendFrame(victim, "control", encodeFrame(ad));
      });
    break;
  }
  case "relay": {
    const a = await attacker("relayer");
    agents.push(a);
    const far = config.far!;
    run = () =>
      flood(async () => {
        const env = await createEnvelope("cip", "STATE_UPDATE", {
          identity: a.identity,
          receiver: { agent_id: "far", fingerprint: far },
          payload: { presence: "focused", lri: 1, ltppeerstate: "probing" },
        });
        const frame: RelayFrame = {
          mesh: "1.0",
          kind: "relay",
          origin: a.fingerprint,
          destination: far,
          hop_limit: 9,
          hops: [a.fingerprint],
          channel: "state",
          envelope: decoder.decode(encodeEnvelope(env)),
        };
        await a.sendFrame(victim, "state", encodeFrame(frame));
      });
    break;
  }
  case "store": {
    for (const n of ["mallory", "trudy", "eve"]) agents.push(await attacker(n));
    run = async () => {
      await Promise.all(agents.map((a, k) => {
        let i = 0;
        return flood(async () => {
          const { fact, trace } = bulkyFact(i++, `${k}`);
          await a.proposeFact(fact, trace, { to: [victim] });
        }, 90);
      }));
    };
    break;
  }
  case "fetch-probing": {
    const a = await attacker("scanner");
    agents.push(a);
    const urls = [
      `${config.admin}/admin`,
      `${config.admin}/metrics`,
      `http://127.0.0.1:${config.port}/`,
      "http://127.0.0.1:1/",
      "http://localhost:9/",
    ];
    run = () =>
      flood(async () => {
        await a.askToFetch(victim, urls[sent % urls.length]!, []);
      }, 90);
    break;
  }
  case "fetch-trusted": {
    const a = await attacker("insider", await Identity.fromPkcs8Pem(config.pem!));
    agents.push(a);
    const urls = [
      `${config.admin}/admin`,
      "http://10.0.0.1/",
      "http://192.168.1.1/",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::1]:1/",
      "http://[::ffff:127.0.0.1]:1/",
      "http://0x7f000001/",
    ];
    run = () =>
      flood(async () => {
        await a.askToFetch(victim, urls[sent % urls.length]!, []);
      }, 90);
    break;
  }
}
print({ ready: true });
await run!();
// Late answers to the last units.
await sleep(500);
print({ sent, codes });
await Promise.allSettled(agents.map((a) => a.stop()));
Deno.exit(0);
