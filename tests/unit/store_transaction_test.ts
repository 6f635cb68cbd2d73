import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Transactions } from "../../lib/store/transaction.ts";

function fixture(): {
  db: DatabaseSync;
  tx: Transactions;
  rollbacks: boolean[];
  values: () => number[];
  insert: (x: number) => void;
  [Symbol.dispose](): void;
} {
  const db = new DatabaseSync(":memory:", { enableForeignKeyConstraints: true });
  db.exec("CREATE TABLE t (x INTEGER)");
  const rollbacks: boolean[] = [];
  const tx = new Transactions(db, { onRollback: (outermost) => rollbacks.push(outermost) });
  return {
    db,
    tx,
    rollbacks,
    values: () => db.prepare("SELECT x FROM t ORDER BY x").all().map((r) => Number(r.x)),
    insert: (x) => void db.prepare("INSERT INTO t VALUES (?)").run(x),
    [Symbol.dispose]: () => db.close(),
  };
}

Deno.test("Transactions.run commits what returns and rolls back what throws, with savepoints nested inside", () => {
  using f = fixture();
  const result = f.tx.run(() => {
    assert.equal(f.tx.depth, 1);
    assert.equal(f.db.isTransaction, true);
    f.insert(1);
    f.tx.run(() => {
      assert.equal(f.tx.depth, 2);
      f.insert(2);
    });
    assert.throws(
      () =>
        f.tx.run(() => {
          f.insert(3);
          f.tx.run(() => f.insert(4)); // kept by its own level, undone with the outer one
          throw new Error("refused");
        }),
      /refused/,
    );
    assert.deepEqual(f.values(), [1, 2], "the failed savepoint left nothing");
    return "done";
  });
  assert.equal(result, "done");
  assert.equal(f.tx.depth, 0);
  assert.equal(f.db.isTransaction, false);
  assert.deepEqual(f.values(), [1, 2]);
  assert.deepEqual(f.rollbacks, [false], "one savepoint rollback, reported as not outermost");
});

Deno.test("Transactions.run rolls the whole transaction back when the outermost level throws", () => {
  using f = fixture();
  assert.throws(() =>
    f.tx.run(() => {
      f.insert(1);
      f.tx.run(() => f.insert(2));
      throw new TypeError("boom");
    }), TypeError);
  assert.deepEqual(f.values(), []);
  assert.equal(f.db.isTransaction, false);
  assert.equal(f.tx.depth, 0);
  assert.deepEqual(f.rollbacks, [true]);
});

Deno.test("Transactions.begin/commit/rollback span calls, as a write group does", () => {
  using f = fixture();
  f.tx.begin();
  f.insert(1);
  f.tx.run(() => f.insert(2));
  f.tx.commit();
  f.tx.begin();
  f.insert(3);
  f.tx.rollback();
  assert.deepEqual(f.values(), [1, 2]);
  assert.throws(() => f.tx.commit(), RangeError);
  assert.throws(() => f.tx.rollback(), RangeError);
});

Deno.test("Transactions.commit rolls back and throws when COMMIT itself fails", () => {
  using f = fixture();
  f.db.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
    CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`);
  assert.throws(
    () =>
      f.tx.run(() => {
        f.insert(1);
        f.db.exec("INSERT INTO child VALUES (42)"); // checked only at COMMIT
      }),
    /FOREIGN KEY/,
  );
  assert.equal(f.db.isTransaction, false, "the failed transaction is not left open");
  assert.equal(f.tx.depth, 0);
  assert.deepEqual(f.values(), []);
  assert.deepEqual(f.rollbacks, [true]);
  f.tx.run(() => f.insert(5));
  assert.deepEqual(f.values(), [5], "the connection is usable again");
});
