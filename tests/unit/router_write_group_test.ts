import assert from "node:assert/strict";
import { WriteGroupRunner } from "../../lib/router/write_group.ts";
import { openStore, type StoreChange } from "../../lib/store/mod.ts";
import { P1 } from "./store_records.ts";

/** A store stand-in that records its groups: the tasks run in each. */
function recorder() {
  const groups: string[][] = [];
  let open: string[] | null = null;
  return {
    groups,
    store: {
      beginGroup() {
        open = [];
      },
      endGroup() {
        groups.push(open!);
        open = null;
      },
    },
    task: (name: string) => () => {
      open!.push(name);
      return Promise.resolve(name);
    },
  };
}

const hooks = { begin() {}, end() {} };
const now = () => 0;

Deno.test("WriteGroupRunner commits a lone task at once: the batching delay never waits for messages not yet received", async () => {
  const r = recorder();
  const waits: number[] = [];
  const runner = new WriteGroupRunner(r.store, now, hooks, {
    delayMs: 50,
    wait: (ms) => {
      waits.push(ms);
      return new Promise(() => {}); // a timer that never fires: only an arrival could end it
    },
  });
  assert.equal(await runner.run(r.task("a")), "a");
  assert.equal(await runner.expect().run(r.task("b")), "b");
  assert.deepEqual(r.groups, [["a"], ["b"]]);
  assert.deepEqual(waits, [], "nothing announced, nothing waited for");
});

Deno.test("WriteGroupRunner keeps a group open for announced messages, within the delay", async () => {
  const r = recorder();
  let fire: () => void = () => {};
  const runner = new WriteGroupRunner(r.store, now, hooks, {
    delayMs: 5,
    wait: (_ms, signal) =>
      new Promise((resolve) => {
        fire = resolve;
        signal.addEventListener("abort", () => resolve());
      }),
  });
  const second = runner.expect();
  const third = runner.expect();
  const a = runner.run(r.task("a"));
  // The group waits for the two announced messages ("being verified").
  await Promise.resolve();
  const b = second.run(r.task("b"));
  third.cancel(); // a message that will not come (refused before its write)
  assert.deepEqual(await Promise.all([a, b]), ["a", "b"]);
  assert.deepEqual(r.groups, [["a", "b"]]);

  // An announced message that is slower than the delay: the group commits without it.
  const late = runner.expect();
  const c = runner.run(r.task("c"));
  await Promise.resolve();
  fire(); // the timer ran out
  assert.equal(await c, "c");
  assert.equal(await late.run(r.task("d")), "d");
  assert.deepEqual(r.groups, [["a", "b"], ["c"], ["d"]]);
});

Deno.test("WriteGroupRunner options are bounded", () => {
  const r = recorder();
  assert.throws(() => new WriteGroupRunner(r.store, now, hooks, { delayMs: 51 }), RangeError);
  assert.throws(() => new WriteGroupRunner(r.store, now, hooks, { delayMs: -1 }), RangeError);
  assert.throws(() => new WriteGroupRunner(r.store, now, hooks, { maxMessages: 0 }), RangeError);
  assert.throws(() => new WriteGroupRunner(r.store, now, hooks, { maxMessages: 1025 }), RangeError);
  const one = recorder();
  const runner = new WriteGroupRunner(one.store, now, hooks, { maxMessages: 1 });
  return Promise.all([runner.run(one.task("a")), runner.run(one.task("b"))]).then(() =>
    assert.deepEqual(one.groups, [["a"], ["b"]])
  );
});

Deno.test("Store group without savepoints: a list refused half way is undone alone, the lists before it stay", () => {
  using store = openStore(":memory:");
  const presence = (lri: number): StoreChange => ({
    kind: "presence.set",
    record: { peer: P1, presence: "focused", lri, kernelSignals: [], updatedMs: lri },
  });
  const replay = (msgId: string): StoreChange => ({
    kind: "replay.add",
    entry: { sender: P1, msgId, timestampMs: 5 },
  });
  store.beginGroup({ nowMs: 5 });
  store.commit([presence(10), replay("m-1")]);
  // The replay entry is written, then the presence breaks its CHECK (lri 0..100).
  assert.throws(() => store.commit([replay("m-2"), presence(500)]));
  store.commit([presence(20), replay("m-3")]);
  assert.throws(() => store.commit([replay("m-4"), presence(501)]));
  store.endGroup();
  assert.deepEqual(store.replayEntries(0).map((e) => e.msgId).sort(), ["m-1", "m-3"]);
  assert.equal(store.presence(P1)?.lri, 20);
});
