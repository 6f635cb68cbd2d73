/**
 * The agent's LIP actions on the `memory` transport: fetches charged to
 * whoever the URL came from and bounded per account (`busy`), the judge's
 * three verdicts (a dispute sends `LIP_REJECT`), and a judge that throws.
 */
import assert from "node:assert/strict";
import type { FetchedDocument, LipFetcher, LipJudge } from "../../lib/lip/mod.ts";
import { FetchBudget } from "../../lib/lip/mod.ts";
import { memory, MemoryNetwork } from "../../lib/rtt/mod.ts";
import type { FetchRequest } from "../../lib/runtime/mod.ts";
import { World } from "../helpers/agents.ts";

const TEXT = "Lake Aral nitrate at 12 mg/l.";

/** A fetcher whose fetches wait until released, and that records every request. */
class HeldFetcher implements LipFetcher {
  readonly requests: FetchRequest[] = [];
  #release: (() => void)[] = [];
  held = true;

  fetch(request: FetchRequest): Promise<FetchedDocument> {
    this.requests.push(request);
    const doc: FetchedDocument = {
      url: request.query,
      finalUrl: request.query,
      redirects: [],
      status: 200,
      contentType: "text/plain",
      text: TEXT,
      bytes: TEXT.length,
      sha256: "00".repeat(32),
      retrievedAt: new Date().toISOString(),
      topics: [],
    };
    if (!this.held) return Promise.resolve(doc);
    return new Promise((resolve) => this.#release.push(() => resolve(doc)));
  }

  /** Lets every waiting fetch finish, and the next ones run at once. */
  releaseAll(): void {
    this.held = false;
    for (const r of this.#release.splice(0)) r();
  }
}

Deno.test("FetchBudget keeps the agent's own room and bounds each peer and all peers", () => {
  const b = new FetchBudget({ self: 1, perPeer: 1, peers: 2 });
  const own = b.take("me", "self");
  assert.ok(own);
  assert.equal(b.take("me", "self"), undefined);
  const a = b.take("a", "trusted");
  assert.ok(a);
  assert.equal(b.take("a", "trusted"), undefined);
  {
    using _c = b.take("c", "trusted");
    assert.equal(b.take("d", "trusted"), undefined, "the peers' room is full");
    assert.equal(b.running(), 3);
  }
  assert.equal(b.running("c"), 0, "a lease ends with its scope");
  a.release();
  a.release();
  assert.equal(b.running("a"), 0, "releasing twice is harmless");
  assert.throws(() => new FetchBudget({ peers: 0 }), RangeError);
});

Deno.test("LipActions: a trusted peer's fetches beyond its share are answered busy; its first ones run", async () => {
  const fetcher = new HeldFetcher();
  await using w = await World.create({
    names: ["victim", "ally"],
    transport: memory({ network: new MemoryNetwork() }),
    extraOf: { victim: { fetcher, fetchBudget: { perPeer: 2 } } },
  });
  await w.link("ally", "victim");
  const ally = w.get("ally").agent;
  const victim = w.get("victim").agent;
  const busy = ally.next("errorReceived", (e) => e.code === "busy");
  for (let i = 0; i < 3; i++) {
    await ally.askToFetch(w.fp("victim"), `https://water.example/${i}`, []);
  }
  const refused = await busy;
  assert.match(refused.reason, /2 fetches already run on the account of/);
  assert.equal(fetcher.requests.length, 2);
  assert.ok(fetcher.requests.every((r) => r.chargedTo === w.fp("ally")));
  fetcher.releaseAll();
  await ally.until(() => ally.store.lipItems("pending").length === 2);
  // The victim's own fetches have their own room, whatever peers do.
  assert.equal((await victim.fetch("https://water.example/own", { share: [] })).claims.length, 1);
  assert.equal(fetcher.requests.at(-1)?.chargedTo, w.fp("victim"));
});

Deno.test("LipActions: the judge decides: corroborate sends LIP_ACCEPT, dispute LIP_REJECT, abstain and a failing judge nothing", async () => {
  const fetcher = new HeldFetcher();
  fetcher.releaseAll();
  let decide: LipJudge = () => ({ verdict: "abstain", reason: "unsure" });
  const seen: string[] = [];
  const judge: LipJudge = (input) => {
    seen.push(input.document.text);
    return decide(input);
  };
  await using w = await World.create({
    names: ["origin", "checker", "other"],
    transport: memory({ network: new MemoryNetwork() }),
    extra: { fetcher, lipJudge: judge },
  });
  await w.link("checker", "origin");
  await w.link("other", "origin");
  await w.link("checker", "other");
  const origin = w.get("origin").agent;
  const checker = w.get("checker").agent;
  const { claims: [claim] } = await origin.fetch("https://water.example/aral", {
    share: [w.fp("checker")],
  });
  await checker.until(() => checker.store.lipItem(claim!) !== undefined);

  assert.deepEqual(await checker.verifyEvidence(claim!), {
    verified: false,
    reason: "abstained",
    sent: [],
  });
  assert.deepEqual(seen, [TEXT], "the judge saw the page as fetched again");
  assert.equal(fetcher.requests.at(-1)?.chargedTo, w.fp("origin"), "charged to the claim's peer");

  decide = () => Promise.reject(new Error("the lab is offline"));
  const failed = checker.next("error", (e) => e.where === "lip_judge");
  assert.equal((await checker.verifyEvidence(claim!)).reason, "judge_failed");
  assert.match((await failed).error, /lab is offline/);

  decide = () => ({ verdict: "dispute", reason: "our lab says 40 mg/l" });
  const disputed = await checker.verifyEvidence(claim!);
  assert.deepEqual([disputed.verified, disputed.reason, disputed.sent[0]?.status], [
    false,
    "disputed",
    "sent",
  ]);
  await origin.until(() => origin.store.lipItem(claim!)?.status === "disputed");

  decide = () => ({ verdict: "corroborate", reason: "x".repeat(5000) });
  const vouched = await checker.verifyEvidence(claim!);
  assert.deepEqual([vouched.verified, vouched.reason], [true, "corroborated"]);
  await origin.until(() => origin.store.lipItem(claim!)?.corroborators.length === 1);
  assert.deepEqual(origin.store.lipItem(claim!)?.disputers, [], "its latest word counts");
});
