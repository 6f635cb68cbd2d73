/**
 * The person's console attacked over HTTP, as an outsider with the docs and
 * no browser (the browser cases are in `console_browser_test.ts`):
 *
 * - what keeps others out: the token, the `Host` (DNS rebinding) and
 *   `Origin` checks, no path outside the routes, loopback only;
 * - the person decides, not the page (PROTOCOLS.md §8): opening the console
 *   changes nothing, a message carrying another consent than the agent's
 *   record (a reloaded page's defaults) is refused `consent_mismatch` and
 *   changes nothing, and every post is answered with the agent's real
 *   outcome (delivered, held with its reason, refused);
 * - no state size makes it fail: over a store filled with large claims,
 *   `/api/state` and every list are paged and bounded.
 */
import assert from "node:assert/strict";
import {
  createEnvelope,
  encodeEnvelope,
  type HcpType,
  type HumanState,
} from "../../lib/envelope/mod.ts";
import { Identity } from "../../lib/identity/mod.ts";
import { type ClaimStatus, openStore } from "../../lib/store/mod.ts";
import {
  PersonProofs,
  PROOF_CHALLENGE_MS,
  PROOF_MAX_CHALLENGES,
  proofText,
} from "../../cli/console/proof.ts";
import { web4, Web4Process } from "../helpers/web4.ts";
import { claim, lipItem } from "../unit/store_records.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One raw HTTP/1.1 request (any Host, any path), answered and closed. */
async function raw(port: number, head: string): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(enc.encode(`${head}\r\nConnection: close\r\n\r\n`));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const text = dec.decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

async function readEvents(path: string): Promise<{ kind: string; peer?: string }[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

const STATUSES: ClaimStatus[] = ["pending", "accepted", "disputed", "rejected"];
const BIG = "x".repeat(16 * 1024);

/** Fills a store as floods of peers would: 400 claims and 100 LIP items of 16 KiB each. */
function fill(path: string): void {
  using store = openStore(path);
  for (let peer = 0; peer < 20; peer++) {
    const fp = peer.toString(16).padStart(2, "0").repeat(32);
    store.commit(
      Array.from({ length: 20 }, (_, i) => ({
        kind: "claim.upsert" as const,
        claim: {
          ...claim(`claim-${peer}-${i}`, fp, i),
          status: STATUSES[i % 4]!,
          fact: { ...claim("x", fp).fact, statement: `${peer}/${i} ${BIG}` },
        },
      })),
      { nowMs: 1_000 },
    );
    if (peer % 2 === 0) {
      store.commit(
        Array.from({ length: 10 }, (_, i) => ({
          kind: "lip.upsert" as const,
          item: { ...lipItem(`lip-${peer}-${i}`, fp), claim: `${peer}/${i} ${BIG}` },
        })),
        { nowMs: 1_000 },
      );
    }
  }
}

Deno.test({
  name:
    "Console attacks: token, Host, Origin, no path traversal, loopback only; opening changes nothing; another consent than the record is refused consent_mismatch; posts show the real outcome; lists paged over a filled store",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "web4_console_attack_" });
    try {
      // Loopback only: a console or metrics on another address is refused at start.
      assert.equal(
        (await web4(["keygen", "--out", `${dir}/a.pem`, "--agent-id", "alice"])).code,
        0,
      );
      const open = await web4([
        "serve",
        "--key",
        `${dir}/a.pem`,
        "--listen",
        "127.0.0.1:0",
        "--console",
        "0.0.0.0:0",
      ]);
      assert.equal(open.code, 2);
      assert.match(open.stderr, /--console 0\.0\.0\.0:0 is not a loopback address/);
      const metrics = await web4([
        "serve",
        "--key",
        `${dir}/a.pem`,
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "0.0.0.0:0",
      ]);
      assert.equal(metrics.code, 2);
      assert.match(metrics.stderr, /--metrics 0\.0\.0\.0:0 is not a loopback address/);

      fill(`${dir}/a.db`);
      const events = `${dir}/a.jsonl`;
      await using serve = new Web4Process([
        "serve",
        "--key",
        `${dir}/a.pem`,
        "--listen",
        "127.0.0.1:0",
        "--store",
        `${dir}/a.db`,
        "--events",
        events,
        "--console",
        "127.0.0.1:0",
      ]);
      const agentFp = (await serve.line(/^agent alice fingerprint ([0-9a-f]{64})$/))[1]!;
      const url = (await serve.line(/^console on (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/))[1]!;
      const token = (await serve.line(/^console token (\S+)$/))[1]!;
      const origin = new URL(url).origin;
      const port = Number(new URL(url).port);
      const auth = { authorization: `Bearer ${token}` };
      const get = async (path: string, headers: Record<string, string> = auth) => {
        const r = await fetch(`${origin}${path}`, { headers });
        const text = await r.text();
        return { status: r.status, text, bytes: enc.encode(text).length };
      };

      // The token: every route, none or a wrong one, 401.
      for (
        const path of [
          "/",
          "/console.js",
          "/api/state",
          "/api/peers",
          "/api/facts?origin=cip&status=pending",
          "/api/events",
        ]
      ) {
        assert.equal((await get(path, {})).status, 401, path);
        assert.equal((await get(path, { authorization: "Bearer wrong-token" })).status, 401, path);
      }
      for (const path of ["/api/enrol", "/api/envelope"]) {
        const r = await fetch(`${origin}${path}`, {
          method: "POST",
          headers: { origin },
          body: "{}",
        });
        await r.body?.cancel();
        assert.equal(r.status, 401, path);
      }
      // DNS rebinding: another Host is refused, even with the token.
      const rebound = await raw(
        port,
        `GET /api/state?token=${token} HTTP/1.1\r\nHost: attacker.example:${port}`,
      );
      assert.equal(rebound.status, 403);
      assert.ok(!rebound.text.includes(agentFp), "no state for another Host");
      // A foreign Origin: refused for reads and writes.
      assert.equal(
        (await get("/api/state", { ...auth, origin: "http://evil.example" })).status,
        403,
      );
      const foreign = await fetch(`${origin}/api/enrol`, {
        method: "POST",
        headers: { ...auth, origin: "http://evil.example" },
        body: JSON.stringify({ fingerprint: "ab".repeat(32) }),
      });
      await foreign.body?.cancel();
      assert.equal(foreign.status, 403);
      // No path outside the routes, however it is spelled.
      for (
        const path of [
          "/../../../../etc/passwd",
          "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
          "/console.js/..%2f..%2f..%2fdeno.json",
          "//etc/passwd",
          "/api/../../deno.json",
          "/api/state/..%5c..%5cdeno.json",
        ]
      ) {
        const r = await raw(
          port,
          `GET ${path}${
            path.includes("?") ? "&" : "?"
          }token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}`,
        );
        assert.ok(r.status === 404 || r.status === 400, `${path}: ${r.status}`);
        assert.ok(!r.text.includes("root:") && !r.text.includes('"exports"'), path);
      }

      // Bodies are bounded before they are read: an oversized enrolment, proof or envelope is 413.
      for (
        const [path, size] of [
          ["/api/enrol", 8 * 1024],
          ["/api/proof", 8 * 1024],
        ] as const
      ) {
        const big = await fetch(`${origin}${path}`, {
          method: "POST",
          headers: { ...auth, origin, "content-type": "application/json" },
          body: JSON.stringify({ fingerprint: "x".repeat(size) }),
        });
        await big.body?.cancel();
        assert.equal(big.status, 413, `${path}: ${big.status}`);
      }

      // Opening the console: the page, its script and the state change nothing.
      const person = await Identity.generate({ agentId: "ada" });
      assert.equal((await get(`/?token=${token}`)).status, 200);
      assert.equal((await get(`/console.js?token=${token}`)).status, 200);
      // Enrolment (what the page does on first open) gives no consent.
      const enrol = await fetch(`${origin}/api/enrol`, {
        method: "POST",
        headers: { ...auth, origin, "content-type": "application/json" },
        body: JSON.stringify({ fingerprint: person.fingerprint }),
      });
      assert.deepEqual(await enrol.json(), { person: person.fingerprint, enrolled: true });
      await serve.line(new RegExp(`^person ${person.fingerprint} enrolled$`));
      // An envelope larger than any the agent accepts is refused before it is read whole.
      const huge = await fetch(`${origin}/api/envelope`, {
        method: "POST",
        headers: { ...auth, origin, "content-type": "application/json" },
        body: "x".repeat(2 * 1024 * 1024),
      });
      await huge.body?.cancel();
      assert.equal(huge.status, 413);
      // Proving a key: a challenge signed with it (what the page does with the person's key).
      const challenge = async () => {
        const r = await fetch(`${origin}/api/proof/challenge`, {
          method: "POST",
          headers: { ...auth, origin },
        });
        assert.equal(r.status, 200);
        return (await r.json()).challenge as string;
      };
      const signed = async (who: Identity, c: string, agent = agentFp) => ({
        challenge: c,
        publicKey: who.publicKeyBase64,
        signature: (await who.sign(proofText(agent, c))).toBase64(),
      });
      const proveWith = async (body: unknown) => {
        const r = await fetch(`${origin}/api/proof`, {
          method: "POST",
          headers: { ...auth, origin, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        const text = await r.text();
        return { status: r.status, credential: r.ok ? JSON.parse(text).credential as string : "" };
      };
      const ownProof = await signed(person, await challenge());
      const proved = await proveWith(ownProof);
      assert.equal(proved.status, 200);
      const personAuth = { ...auth, "x-web4-person": proved.credential };

      // A request that has not proved the person's key gets none of the person's history:
      // no proof, a proof by another key, a replayed proof, one for another agent, a made-up
      // challenge, a made-up credential (an expired challenge: the last test below).
      const stranger = await Identity.generate({ agentId: "eve" });
      const refusedProofs = [
        await proveWith(await signed(stranger, await challenge())),
        await proveWith(ownProof), // replayed: the challenge was used
        await proveWith(await signed(person, await challenge(), "cd".repeat(32))),
        await proveWith(await signed(person, "00".repeat(24))),
        await proveWith({ ...await signed(person, await challenge()), signature: "AA==" }),
      ];
      for (const r of refusedProofs) assert.equal(r.status, 403);
      const bad = await proveWith({ challenge: 1 });
      assert.equal(bad.status, 400);
      const historyOf = async (headers: Record<string, string>) => {
        const st = await get("/api/state", headers);
        assert.equal(st.status, 200);
        const body = JSON.parse(st.text);
        assert.equal(body.viewer, true);
        assert.equal(body.agent.fingerprint, agentFp, "a viewer sees who the agent is");
        for (
          const key of [
            "human",
            "consent",
            "consentScope",
            "personTrust",
            "peers",
            "facts",
            "drift",
          ]
        ) {
          assert.ok(!(key in body), `a viewer's /api/state has no ${key}`);
        }
        assert.ok(!st.text.includes("claim-") && !st.text.includes("xxxx"), "no fact in it");
        for (
          const path of [
            "/api/peers",
            "/api/facts?origin=cip&status=pending",
            "/api/facts?origin=lip&status=pending",
            "/api/events",
          ]
        ) {
          const r = await get(path, headers);
          assert.equal(r.status, 403, path);
          assert.ok(!r.text.includes("claim-") && !r.text.includes("event:"), path);
        }
      };
      await historyOf(auth);
      await historyOf({ ...auth, "x-web4-person": "ab".repeat(32) });
      await historyOf({ ...auth, "x-web4-person": refusedProofs[0]!.credential });
      const viewerStream = await get(`/api/events?token=${token}&person=${"ab".repeat(32)}`, {});
      assert.equal(viewerStream.status, 403);

      // The person's proven page: its event stream starts with the recent events.
      const stream = await fetch(`${origin}/api/events?person=${proved.credential}`, {
        headers: auth,
      });
      const reader = stream.body!.getReader();
      const hello = dec.decode((await reader.read()).value);
      assert.match(hello, /^event: hello\n/);
      await reader.cancel();

      const state = async () => JSON.parse((await get("/api/state", personAuth)).text);
      let s = await state();
      assert.deepEqual(
        [s.person, s.human, s.consent, s.personTrust],
        [person.fingerprint, null, null, "untrusted"],
      );
      assert.match(s.consentText, /not told your agent your consent/);

      // Posting as the person (the page signs in the browser; here we sign).
      const CALM: HumanState = {
        presence: "focused",
        affect: "calm",
        clarity: 80,
        pressure: 20,
        intent: "water",
        consent: "granted",
      };
      const post = async (
        type: HcpType,
        payload: unknown,
        human: Partial<HumanState> = {},
      ) => {
        const env = await createEnvelope("hcp", type as "HCP_INTENT", {
          identity: person,
          receiver: { agent_id: "alice", fingerprint: agentFp },
          payload: payload as never,
          state: { human: { ...CALM, ...human } },
        });
        const r = await fetch(`${origin}/api/envelope`, {
          method: "POST",
          headers: { ...auth, origin },
          body: encodeEnvelope(env),
        });
        const body = await r.json();
        assert.equal(r.status, 200, JSON.stringify(body));
        assert.equal(body.msgId, env.msg_id);
        return body.outcome as { status: string; code?: string; reason?: string };
      };
      const WATER = { goal: "request", topic: "topic:water", priority: "normal" };
      const HELLO = {
        identity: { name: "Ada", role: "owner" },
        consent_scope: ["topic:water"],
        safety_flags: [],
      };
      const update = (consent: HumanState["consent"], pressure = 20) => ({
        presence: "focused",
        affect: "calm",
        clarity: 80,
        pressure,
        consent,
      });

      // Before any consent: an intent carrying the page's defaults gives none.
      const early = await post("HCP_INTENT", WATER);
      assert.equal(early.status, "refused");
      assert.equal(early.code, "consent_mismatch");
      s = await state();
      assert.deepEqual([s.human, s.consent, s.personTrust], [null, null, "untrusted"]);

      // The person's explicit consent, an intent delivered, then a revocation.
      assert.deepEqual(await post("HCP_HELLO", HELLO), { status: "handled" });
      assert.deepEqual(await post("HCP_INTENT", WATER), { status: "delivered" });
      assert.deepEqual(await post("HCP_STATE_UPDATE", update("revoked"), { consent: "revoked" }), {
        status: "handled",
      });
      s = await state();
      assert.deepEqual([s.consent, s.personTrust], ["revoked", "restricted"]);
      assert.match(s.consentText, /^You revoked consent/);

      // A reloaded page's defaults ("granted") on every non-consent type: refused, nothing moves.
      const defaults = [
        ["HCP_INTENT", WATER],
        ["HCP_CONTEXT", { context: { note: "x" }, constraints: [], shared_history: [] }],
        ["HCP_FEEDBACK", { feedback: "ok", corrections: [], satisfaction: 90 }],
        ["HCP_DECISION", { decision: "d", rationale: "r", alternatives: ["a"], follow_up: "f" }],
      ] as const;
      for (const [type, payload] of defaults) {
        const o = await post(type, payload, { pressure: 95 });
        assert.equal(o.status, "refused", type);
        assert.equal(o.code, "consent_mismatch", type);
        assert.match(o.reason ?? "", /"granted", but the agent holds "revoked"/);
      }
      s = await state();
      assert.deepEqual([s.consent, s.personTrust, s.human.pressure], ["revoked", "restricted", 20]);
      // Carrying the record, the intent is refused by consent itself.
      const revoked = await post("HCP_INTENT", WATER, { consent: "revoked" });
      assert.deepEqual([revoked.status, revoked.code], ["refused", "consent_revoked"]);

      // Consent again, then pressure: the next intent is held (paced), with its reason.
      await post("HCP_STATE_UPDATE", update("granted"));
      assert.deepEqual(await post("HCP_INTENT", WATER), { status: "delivered" });
      await post("HCP_STATE_UPDATE", update("granted", 90));
      const held = await post("HCP_INTENT", WATER, { pressure: 90 });
      assert.equal(held.status, "held");
      assert.equal(held.code, "paced");
      assert.match(held.reason ?? "", /paced: pressure 90/);
      const outside = await post("HCP_INTENT", { ...WATER, topic: "topic:finance" }, {
        pressure: 90,
      });
      assert.equal(outside.status, "held", "granted: the scope does not apply, pacing does");

      // Paging over the filled store: /api/state is bounded, every list pages.
      const full = await get("/api/state", personAuth);
      assert.equal(full.status, 200);
      assert.ok(full.bytes < 256 * 1024, `/api/state is ${full.bytes} bytes`);
      const st = JSON.parse(full.text);
      assert.deepEqual(st.limits, { default: 20, max: 100 });
      for (const status of STATUSES) {
        const page = st.facts.cip[status];
        assert.equal(page.items.length, 20, status);
        assert.notEqual(page.next, null, status);
        for (const item of page.items) assert.ok(enc.encode(item.text).length <= 1024);
      }
      assert.equal(st.facts.lip.pending.items.length, 20);
      const seen = new Set<string>();
      let after: string | null = null;
      let pages = 0;
      do {
        const q: string = after === null ? "" : `&after=${encodeURIComponent(after)}`;
        const r = await get(`/api/facts?origin=cip&status=disputed&limit=100${q}`, personAuth);
        assert.equal(r.status, 200);
        assert.ok(r.bytes < 256 * 1024, `a page of 100 is ${r.bytes} bytes`);
        const page = JSON.parse(r.text);
        for (const item of page.items) {
          assert.ok(!seen.has(item.id), `${item.id} twice`);
          seen.add(item.id);
          assert.ok(item.text.endsWith("…"), "a 16 KiB statement is clipped");
        }
        after = page.next;
        pages++;
      } while (after !== null);
      assert.equal(seen.size, 100, "every disputed claim once");
      assert.equal(pages, 1 + Number(seen.size > 100));
      const lips = JSON.parse(
        (await get("/api/facts?origin=lip&status=pending&limit=100", personAuth)).text,
      );
      assert.equal(lips.items.length, 100);
      assert.equal(lips.next, null);
      for (
        const bad of [
          "/api/facts?origin=cip&status=pending&limit=101",
          "/api/facts?origin=cip&status=pending&limit=0",
          "/api/facts?origin=cip&status=pending&after=not-a-cursor",
          "/api/facts?origin=cip&status=everything",
          "/api/facts?origin=web&status=pending",
          `/api/peers?after=${"x".repeat(65)}`,
          "/api/peers?limit=1000000",
        ]
      ) {
        const r = await get(bad, personAuth);
        assert.equal(r.status, 400, bad);
        assert.ok(typeof JSON.parse(r.text).error === "string", bad);
      }
      assert.deepEqual(JSON.parse((await get("/api/peers?limit=1", personAuth)).text), {
        items: [],
        next: null,
      });

      // No consent change but the three the person posted (granted, revoked, granted).
      assert.equal((await serve.stop("SIGTERM")).code, 0);
      const log = await readEvents(events);
      const changes = log.filter((e) => e.kind === "hcp.consent_changed");
      assert.deepEqual(
        changes.map((e) => (e as { data?: { to?: string } }).data?.to),
        ["granted", "revoked", "granted"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("Console person proofs: an expired challenge, a used one, an evicted one and a credential after the person changed prove nothing", async () => {
  let now = 0;
  const agent = "ab".repeat(32);
  const proofs = new PersonProofs({
    agentFingerprint: agent,
    now: () => now,
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
  });
  const person = await Identity.generate();
  const post = async (c: string) => ({
    challenge: c,
    publicKey: person.publicKeyBase64,
    signature: (await person.sign(proofText(agent, c))).toBase64(),
  });
  const late = proofs.challenge();
  now += PROOF_CHALLENGE_MS + 1;
  assert.deepEqual(await proofs.prove(await post(late), person.fingerprint), {
    error: "expired challenge",
  });
  const first = proofs.challenge();
  for (let i = 0; i < PROOF_MAX_CHALLENGES; i++) proofs.challenge();
  assert.deepEqual(await proofs.prove(await post(first), person.fingerprint), {
    error: "unknown or already used challenge",
  });
  const c = proofs.challenge();
  const credential = await proofs.prove(await post(c), person.fingerprint);
  assert.equal(typeof credential, "string");
  assert.deepEqual(await proofs.prove(await post(c), person.fingerprint), {
    error: "unknown or already used challenge",
  });
  assert.ok(proofs.isPerson(credential as string, person.fingerprint));
  assert.ok(!proofs.isPerson(credential as string, "cd".repeat(32)), "bound to that person");
  assert.ok(!proofs.isPerson(null, person.fingerprint));
  assert.ok(!proofs.isPerson(credential as string, undefined));
});
