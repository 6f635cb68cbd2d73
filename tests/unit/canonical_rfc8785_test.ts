import assert from "node:assert/strict";
import { canonicalize } from "../../lib/envelope/mod.ts";

function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

Deno.test("canonicalize reproduces RFC 8785 §3.2.2's sample (numbers, string escaping, literals)", () => {
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      ' "literals": [null, true, false]}',
  );
  assert.equal(
    canonicalize(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

Deno.test("canonicalize sorts keys by UTF-16 code units as in RFC 8785 §3.2.3", () => {
  const input = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
  };
  assert.equal(
    canonicalize(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
      '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

Deno.test("canonicalize formats numbers as RFC 8785 Appendix B lists", () => {
  const cases: [string, string][] = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  for (const [bits, expected] of cases) {
    assert.equal(canonicalize(fromBits(bits)), expected, `bits ${bits}`);
    assert.equal(canonicalize([fromBits(bits)]), `[${expected}]`, `bits ${bits} in an array`);
  }
});

Deno.test("canonicalize escapes strings minimally: short escapes, lowercase \\u00xx, raw non-ASCII", () => {
  assert.equal(
    canonicalize('\b\t\n\f\r\u0000\u001f\u007f/"\\é😀'),
    '"\\b\\t\\n\\f\\r\\u0000\\u001f\u007f/\\"\\\\é😀"',
  );
});

Deno.test("canonicalize omits undefined properties and keeps nested order canonical", () => {
  assert.equal(
    canonicalize({ b: { d: 1, c: undefined, a: [true, null, "x"] }, a: undefined, c: {} }),
    '{"b":{"a":[true,null,"x"],"d":1},"c":{}}',
  );
  const shared = { z: 1 };
  assert.equal(
    canonicalize({ x: shared, y: [shared, shared] }),
    '{"x":{"z":1},"y":[{"z":1},{"z":1}]}',
  );
  assert.equal(canonicalize(Object.assign(Object.create(null), { k: 2 })), '{"k":2}');
});

Deno.test("canonicalize refuses values JSON cannot carry, naming the value and its location", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = { back: cyclic };
  const arrayCycle: unknown[] = [];
  arrayCycle.push(arrayCycle);
  const cases: [unknown, RegExp][] = [
    [NaN, /NaN at the root/],
    [{ x: Infinity }, /Infinity at \/x/],
    [{ x: [1, -Infinity] }, /-Infinity at \/x\/1/],
    [{ big: 10n }, /BigInt 10n at \/big/],
    [{ f: function named() {} }, /function named at \/f/],
    [{ s: Symbol("tag") }, /Symbol\(tag\) at \/s/],
    [cyclic, /Cycle at \/self\/back/],
    [arrayCycle, /Cycle at \/0/],
    [[1, undefined], /undefined at \/1/],
    [undefined, /undefined at the root/],
    [{ when: new Date(0) }, /Date object at \/when/],
    [{ m: new Map() }, /Map object at \/m/],
    [{ "a/b~c": { s: "\ud800" } }, /lone surrogate/],
    [{ ["\udc00"]: 1 }, /lone surrogate/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => canonicalize(value), (err: unknown) => {
      assert.ok(err instanceof TypeError, `TypeError for ${String(message)}`);
      assert.match(err.message, message);
      return true;
    });
  }
  assert.throws(() => canonicalize({ "a/b~c": NaN }), /at \/a~1b~0c/);
});

Deno.test("canonicalize handles deep nesting without overflowing the stack", () => {
  let deep: unknown = 0;
  for (let i = 0; i < 20_000; i++) deep = [deep];
  const out = canonicalize(deep);
  assert.equal(out.length, 40_001);
});
