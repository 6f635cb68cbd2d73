// Issue 17, items 1 (SSRF) and 4 (trust for free, LIP half): attacks on the
// LIP layer written as an outsider would, from docs/lip.md: agents on the
// real RTT over loopback, attackers with fresh keys and the public API
// (`askToFetch`, `fetch` with their own fetcher, `verifyEvidence` with their
// own judge). Each test asserts the refusal code, that the target server saw
// nothing, the victim's LIP queue, and that a legitimate peer is still served.
import assert from "node:assert/strict";
import type { Agent } from "../../lib/agent/mod.ts";
import {
  type FetchedDocument,
  HttpFetcher,
  type LipFetcher,
  type LipJudge,
  textDocument,
} from "../../lib/lip/mod.ts";
import { rtt } from "../../lib/rtt/mod.ts";
import { World } from "../helpers/agents.ts";

const PAGE = "Lake Aral water samples of 2026 show nitrate at 12 mg/l.";

/** A loopback server that counts every request it sees. */
function server(body: string) {
  const seen: string[] = [];
  const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(new URL(req.url).pathname);
    return new Response(body, { headers: { "content-type": "text/plain" } });
  });
  return { s, seen, origin: `http://127.0.0.1:${s.addr.port}` };
}

/** A loopback port nothing listens on. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** An honest judge: the operator's lab measured 12 mg/l; a page must say the same. */
const labJudge: LipJudge = ({ document }) => {
  const m = /nitrate at (\d+) mg\/l/.exec(document.text);
  if (m === null) return { verdict: "abstain", reason: "no nitrate reading" };
  return m[1] === "12"
    ? { verdict: "corroborate", reason: "matches our lab's 12 mg/l" }
    : { verdict: "dispute", reason: `says ${m[1]} mg/l, our lab says 12` };
};

/** An attacker's judge: yes to everything. */
const yes: LipJudge = () => ({ verdict: "corroborate", reason: "sure" });

/** An attacker's fetcher: any URL "says" whatever the attacker wants. */
function madeUp(text: string): LipFetcher {
  return {
    fetch(request): Promise<FetchedDocument> {
      return Promise.resolve(textDocument(text, {
        url: request.query,
        finalUrl: request.query,
        redirects: [],
        status: 200,
        contentType: "text/plain",
        retrievedAt: new Date().toISOString(),
        topics: [],
      }));
    },
  };
}

/** The victim anchors two allies; mallory and mallet are fresh keys (probing at the victim once connected). */
async function world(pageOrigin: string, extra: { victimAnchors?: string[] } = {}) {
  const w = await World.create({
    names: ["victim", "ally1", "ally2", "mallory", "mallet"],
    transport: rtt(),
    anchorsOf: {
      victim: extra.victimAnchors ?? ["ally1", "ally2"],
      ally1: ["victim", "ally2"],
      ally2: ["victim", "ally1"],
      // The attackers vouch for each other; the victim knows neither.
      mallory: ["mallet"],
      mallet: ["mallory"],
    },
    extraOf: {
      // The operator lists the one page origin it serves; nothing else on loopback.
      victim: { fetcher: new HttpFetcher({ allowOrigins: [pageOrigin] }) },
      ally1: { fetcher: new HttpFetcher({ allowOrigins: [pageOrigin] }), lipJudge: labJudge },
      ally2: { fetcher: new HttpFetcher({ allowOrigins: [pageOrigin] }), lipJudge: labJudge },
      mallory: { fetcher: madeUp("Aral nitrate is 0 mg/l, the lake is pristine."), lipJudge: yes },
      mallet: { fetcher: madeUp("Aral nitrate is 0 mg/l, the lake is pristine."), lipJudge: yes },
    },
  });
  for (const [a, b] of [["ally1", "victim"], ["ally2", "victim"], ["ally1", "ally2"]]) {
    await w.link(a!, b!);
  }
  return w;
}

/** Asks `victim` to fetch `url` from `from` and returns the LIP_ERROR answer. */
async function refusal(from: Agent, victim: string, url: string) {
  const answered = from.next("errorReceived", (e) => e.peer === victim && e.protocol === "lip");
  const sent = await from.askToFetch(victim, url, []);
  assert.equal(sent.status, "sent");
  const err = await answered;
  assert.equal(err.inReplyTo, sent.msgId);
  return err;
}

Deno.test("attack (LIP): a probing peer's LIP_FETCH of a loopback admin page gets not_allowed and the page sees no request", async () => {
  const admin = server("root password: hunter2");
  const page = server(PAGE);
  await using _a = admin.s;
  await using _p = page.s;
  await using w = await world(page.origin);
  await w.link("mallory", "victim");
  const victim = w.get("victim").agent;
  const mallory = w.get("mallory").agent;
  assert.equal(victim.router.trust.peer(w.fp("mallory")), "probing");

  for (const url of [`${admin.origin}/admin`, `${page.origin}/listed-but-not-for-strangers`]) {
    const err = await refusal(mallory, w.fp("victim"), url);
    assert.equal(err.code, "not_allowed", url);
  }
  assert.deepEqual(admin.seen, [], "the admin server saw no request");
  assert.deepEqual(
    page.seen,
    [],
    "a stranger cannot spend the victim's fetches even on a listed origin",
  );
  assert.equal(victim.store.lipItems("pending").length, 0, "nothing was queued");

  // The legitimate peer is still served: a trusted ally's fetch of the listed page.
  const ally1 = w.get("ally1").agent;
  const sent = await ally1.askToFetch(w.fp("victim"), `${page.origin}/aral`, []);
  assert.equal(sent.status, "sent");
  // The victim's signed LIP_EVIDENCE arrives and waits pending at the ally.
  await ally1.until(() => ally1.store.lipItems("pending").some((i) => i.peer === w.fp("victim")));
  assert.deepEqual(page.seen, ["/aral"]);
});

Deno.test("attack (LIP): a trusted peer's fetch of an unlisted private or loopback address is refused by the fetcher before any connection", async () => {
  const admin = server("metrics: ...");
  const page = server(PAGE);
  await using _a = admin.s;
  await using _p = page.s;
  await using w = await world(page.origin);
  const ally1 = w.get("ally1").agent;
  const victim = w.fp("victim");
  const port = admin.s.addr.port;
  for (
    const url of [
      `${admin.origin}/metrics`,
      `http://localhost:${port}/metrics`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://0.0.0.0:${port}/`,
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
      "http://192.168.1.1/",
      // The listed origin is scheme, host and port: another port of the same host is not listed.
      `${page.origin.replace(String(page.s.addr.port), String(port))}/admin`,
    ]
  ) {
    const err = await refusal(ally1, victim, url);
    assert.equal(err.code, "forbidden_address", url);
  }
  assert.deepEqual(admin.seen, [], "the loopback server saw nothing");
  assert.deepEqual(page.seen, []);
  assert.equal(w.get("victim").agent.store.lipItems("pending").length, 0, "nothing was queued");
});

Deno.test("attack (LIP): a port scan through the victim cannot tell an open port from a closed one", async () => {
  const open = server("open");
  const page = server(PAGE);
  await using _o = open.s;
  await using _p = page.s;
  await using w = await world(page.origin);
  await w.link("mallory", "victim");
  const closed = closedPort();
  for (const scanner of ["mallory", "ally1"]) {
    const agent = w.get(scanner).agent;
    const a = await refusal(agent, w.fp("victim"), `http://127.0.0.1:${open.s.addr.port}/`);
    const b = await refusal(agent, w.fp("victim"), `http://127.0.0.1:${closed}/`);
    assert.equal(a.code, b.code, scanner);
    assert.equal(
      a.reason.replaceAll(String(open.s.addr.port), "PORT"),
      b.reason.replaceAll(String(closed), "PORT"),
      `${scanner}: the answers differ only by the port asked for`,
    );
  }
  assert.deepEqual(open.seen, []);
});

Deno.test("attack (LIP): a URL a stranger put in its evidence is re-fetched only on that stranger's account: verifyEvidence refuses it", async () => {
  const admin = server("root password: hunter2");
  const page = server(PAGE);
  await using _a = admin.s;
  await using _p = page.s;
  await using w = await world(page.origin);
  await w.link("mallory", "ally1");
  const ally1 = w.get("ally1").agent;
  const mallory = w.get("mallory").agent;
  const { claims: [claim] } = await mallory.fetch(`${admin.origin}/admin`, {
    share: [w.fp("ally1")],
  });
  await ally1.until(() => ally1.store.lipItem(claim!) !== undefined);
  const checked = await ally1.verifyEvidence(claim!);
  assert.equal(checked.verified, false);
  assert.equal(checked.reason, "not_allowed");
  assert.deepEqual(checked.sent, []);
  assert.deepEqual(admin.seen, [], "the re-fetch was charged to mallory, who is only probing");
});

Deno.test("attack (LIP): made-up claims corroborated by two fresh keys are not accepted and do not raise the source's tier", async () => {
  const page = server(PAGE);
  await using _p = page.s;
  await using w = await world(page.origin);
  await w.link("mallory", "victim");
  await w.link("mallet", "victim");
  await w.link("mallory", "mallet");
  const victim = w.get("victim").agent;
  const [mallory, mallet] = [w.get("mallory").agent, w.get("mallet").agent];
  const source = "https://news.example/aral";
  const before = victim.lip.tierOf(source, victim);

  const { claims: [claim] } = await mallory.fetch(source, {
    share: [w.fp("victim"), w.fp("mallet")],
  });
  await victim.until(() => victim.store.lipItem(claim!) !== undefined);
  await mallet.until(() => mallet.store.lipItem(claim!) !== undefined);
  // Both fresh keys "verify" with their own yes-judges and corroborate to the victim.
  for (const a of [mallory, mallet]) {
    const r = await a.verifyEvidence(claim!, { to: [w.fp("victim")] });
    assert.equal(r.verified, true, "the attackers' own judges say yes");
  }
  // The same content shared again by mallet is a fetch, not a corroboration.
  await mallet.fetch(source, { share: [w.fp("victim")] });
  const accepts = () =>
    w.get("victim").sink.events("router.dispatched").filter((e) =>
      e.data.type === "LIP_ACCEPT" || e.data.type === "LIP_EVIDENCE"
    ).length;
  await victim.until(() => accepts() >= 4);
  const item = victim.store.lipItem(claim!);
  assert.equal(item?.status, "pending");
  assert.deepEqual(item?.corroborators, []);
  assert.equal(victim.store.causalFact(claim!), undefined);
  assert.equal(victim.lip.tierOf(source, victim), before, "the source's tier did not move");
});

Deno.test("attack (LIP): even two trusted keys that say yes to everything cannot lift a source to medium: a fresh key's next claim from it waits", async () => {
  const page = server(PAGE);
  await using _p = page.s;
  // As if mallory and mallet had been given trust for free (the mesh half of item 4).
  await using w = await world(page.origin, { victimAnchors: ["mallory", "mallet"] });
  await w.link("mallory", "victim");
  await w.link("mallet", "victim");
  await w.link("mallory", "mallet");
  const victim = w.get("victim").agent;
  const [mallory, mallet] = [w.get("mallory").agent, w.get("mallet").agent];
  assert.equal(victim.router.trust.peer(w.fp("mallory")), "trusted");
  const source = "https://news.example";
  for (let i = 0; i < 4; i++) {
    const { claims: [claim] } = await mallory.fetch(`${source}/story-${i}`, {
      share: [w.fp("victim"), w.fp("mallet")],
    });
    await mallet.until(() => mallet.store.lipItem(claim!) !== undefined);
    await victim.until(() => victim.store.lipItem(claim!) !== undefined);
    await mallory.verifyEvidence(claim!, { to: [w.fp("victim")] });
    await mallet.verifyEvidence(claim!, { to: [w.fp("victim")] });
    // Two trusted corroborators accept a claim: the rule, whoever they are.
    await victim.until(() => victim.store.lipItem(claim!)?.status === "accepted");
  }
  const tier = victim.lip.tierOf(`${source}/next`, victim);
  assert.ok(tier === "unknown" || tier === "low", `tier ${tier}: only the owner grants medium`);

  // A brand-new key's claim from that source is not accepted on the tier alone.
  const fresh = await World.create({
    names: ["newcomer"],
    transport: rtt(),
    anchors: false,
    extra: { fetcher: madeUp("The lake was refilled last week.") },
  });
  try {
    const newcomer = fresh.get("newcomer").agent;
    const v = w.get("victim");
    await newcomer.connect({ hostname: v.hostname, port: v.port, fingerprint: w.fp("victim") });
    const { claims: [claim] } = await newcomer.fetch(`${source}/refilled`, {
      share: [w.fp("victim")],
    });
    await victim.until(() => victim.store.lipItem(claim!) !== undefined);
    assert.equal(victim.store.lipItem(claim!)?.status, "pending");
    assert.equal(victim.store.causalFact(claim!), undefined);
  } finally {
    await fresh[Symbol.asyncDispose]();
  }
});

Deno.test("attack (LIP): the legitimate flow still works: the victim's fetch of a listed origin, checked by two trusted judges, is accepted", async () => {
  const page = server(PAGE);
  await using _p = page.s;
  await using w = await world(page.origin);
  const victim = w.get("victim").agent;
  const [ally1, ally2] = [w.get("ally1").agent, w.get("ally2").agent];

  // The victim fetches the listed page itself and shares the evidence with its allies.
  const { claims: [claim] } = await victim.fetch(`${page.origin}/aral`, {
    share: [w.fp("ally1"), w.fp("ally2")],
  });
  assert.equal(victim.store.lipItem(claim!)?.status, "pending", "its own fetch never corroborates");
  for (const a of [ally1, ally2]) {
    await a.until(() => a.store.lipItem(claim!) !== undefined);
    const r = await a.verifyEvidence(claim!);
    assert.equal(r.verified, true);
    assert.equal(r.sent[0]?.status, "sent");
  }
  await victim.until(() => victim.store.lipItem(claim!)?.status === "accepted");
  assert.ok(victim.store.causalFact(claim!) !== undefined);
  assert.deepEqual(page.seen, ["/aral", "/aral", "/aral"]);
});

Deno.test("attack (LIP): an agent without a judge abstains: nothing is fetched and no LIP_ACCEPT is sent", async () => {
  const page = server(PAGE);
  await using _p = page.s;
  await using w = await World.create({
    names: ["victim", "ally1"],
    transport: rtt(),
    extra: { fetcher: new HttpFetcher({ allowOrigins: [page.origin] }) },
  });
  await w.link("ally1", "victim");
  const ally1 = w.get("ally1").agent;
  const { claims: [claim] } = await w.get("victim").agent.fetch(`${page.origin}/aral`, {
    share: [w.fp("ally1")],
  });
  await ally1.until(() => ally1.store.lipItem(claim!) !== undefined);
  const r = await ally1.verifyEvidence(claim!);
  assert.deepEqual(r, { verified: false, reason: "no_judge", sent: [] });
  assert.deepEqual(page.seen, ["/aral"], "only the victim's own fetch");
});
