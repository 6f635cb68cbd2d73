/**
 * The person's console in a real browser: Debian's `chromium` (or
 * `WEB4_CHROMIUM`) driven by `npm:puppeteer-core`. Loads the page with the
 * token, enrols the browser's key (which gives no consent: opening the page
 * sends the agent nothing), grants consent by a click, sends an intent that
 * is delivered, one held for a check-in, revokes consent and sees the next
 * intent refused; reloads the page and restarts the agent: consent stays
 * revoked and the page's badges and words say so; checks the token and
 * origin rules; the status line sits next to the button pressed; the live
 * view reads as sentences; at 390 and 420 px wide nothing overflows
 * sideways; a second browser (another key) is served no history of the person
 * (the server's rule: only a page that proved the person's key gets it) and
 * opens no event stream; takes screenshots at 1280 and 390 px (into docs/
 * with WEB4_UPDATE_SCREENSHOTS=1). The console's attacks without a browser are in
 * `attack_console_test.ts`.
 *
 * Without a browser the test is skipped with a message, except when
 * `CI=true`, where it fails.
 */
import assert from "node:assert/strict";
import { readLoggedEvents, untilLoggedEvent, web4, Web4Process } from "../helpers/web4.ts";

function _findBrowser(): string | undefined {
  const candidates = [
    Deno.env.get("WEB4_CHROMIUM"),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
  ];
  for (const c of candidates) {
    if (c === undefined || c === "") continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* next */ }
  }
  return undefined;
}

const browserPath = _findBrowser();
const inCi = Deno.env.get("CI") === "true";
if (browserPath === undefined && !inCi) {
  console.warn(
    "console_browser_test: skipped, no Chromium found (apt-get install -y chromium, or set WEB4_CHROMIUM)",
  );
}

/** A property of the first element matching `selector` (default its text). */
async function text(
  page: { evaluate(js: string): Promise<unknown> },
  selector: string,
  property = "textContent",
): Promise<string> {
  return String(
    await page.evaluate(`document.querySelector(${JSON.stringify(selector)}).${property}`),
  );
}

/** Fails unless nothing on the page reaches past the viewport's right edge (no sideways scroll, no overlap off-screen). */
async function assertNoHorizontalOverflow(
  page: { evaluate(js: string): Promise<unknown> },
  width: number,
): Promise<void> {
  const found = await page.evaluate(`(() => {
    const w = document.documentElement.clientWidth;
    const out = [];
    if (document.documentElement.scrollWidth > w) out.push("document scrollWidth " + document.documentElement.scrollWidth);
    for (const el of document.querySelectorAll("body *")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.right > w + 0.5 || r.left < -0.5) out.push((el.id || el.tagName) + " " + r.left + ".." + r.right);
    }
    return { w, out };
  })()`) as { w: number; out: string[] };
  assert.equal(found.w, width);
  assert.deepEqual(found.out, [], `at ${width} px`);
}

/** Fails unless the status element sits beside or just below the button. */
async function assertNextTo(
  page: { evaluate(js: string): Promise<unknown> },
  button: string,
  status: string,
): Promise<void> {
  const gap = await page.evaluate(`(() => {
    const b = document.getElementById(${JSON.stringify(button)}).getBoundingClientRect();
    const s = document.getElementById(${JSON.stringify(status)}).getBoundingClientRect();
    return Math.max(0, s.top - b.bottom, b.top - s.bottom);
  })()`) as number;
  assert.ok(gap < 16, `${status} is ${gap} px from ${button}`);
}

/** A free loopback port (so the console keeps its origin, and the browser its key, across a restart). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test({
  name:
    "Console in Chromium: token required; opening enrols and sends nothing; consent by a click; intents show delivered, held and refused; revoked stays revoked across a reload and an agent restart, badges and words agreeing",
  ignore: browserPath === undefined && !inCi,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    if (browserPath === undefined) {
      throw new Error(
        "CI=true but no Chromium: .ci/run installs Debian's chromium; set WEB4_CHROMIUM",
      );
    }
    const { default: puppeteer } = await import("npm:puppeteer-core@25");
    const dir = await Deno.makeTempDir({ prefix: "web4_console_" });
    // Screenshots go to docs/ with WEB4_UPDATE_SCREENSHOTS=1, else next to the test's files.
    const docs = Deno.env.get("WEB4_UPDATE_SCREENSHOTS") === "1"
      ? new URL("../../docs/", import.meta.url).pathname
      : `${dir}/`;
    const key = `${dir}/a.pem`;
    assert.equal((await web4(["keygen", "--out", key, "--agent-id", "alice"])).code, 0);
    const events = `${dir}/a.jsonl`;
    const token = "console-token-for-the-browser-test";
    await Deno.writeTextFile(`${dir}/token`, token);
    const serveArgs = [
      "serve",
      "--key",
      key,
      "--listen",
      "127.0.0.1:0",
      "--store",
      `${dir}/a.db`,
      "--mission",
      "water quality for the river",
      "--events",
      events,
      "--console",
      `127.0.0.1:${freePort()}`,
      "--console-token-file",
      `${dir}/token`,
    ];
    await using serve = new Web4Process(serveArgs);
    const url = (await serve.line(/^console on (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/))[1]!;
    const base = url.slice(0, url.indexOf("/?"));

    // No one else gets in: missing or wrong token 401, foreign origin 403, all logged.
    assert.equal((await (await fetch(`${base}/`)).text()).startsWith("Unauthorized"), true);
    for (const path of ["/", "/api/state", "/api/events", "/console.js"]) {
      const none = await fetch(`${base}${path}`);
      await none.body?.cancel();
      assert.equal(none.status, 401, path);
      const wrong = await fetch(`${base}${path}?token=not-the-token`);
      await wrong.body?.cancel();
      assert.equal(wrong.status, 401, path);
    }
    const foreign = await fetch(`${base}/api/enrol`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, origin: "http://evil.example" },
      body: JSON.stringify({ fingerprint: "ab".repeat(32) }),
    });
    await foreign.body?.cancel();
    assert.equal(foreign.status, 403);
    await serve.line(/^warning: console refused GET \/api\/events: wrong token \(401\)$/);
    await serve.line(/^warning: console refused POST \/api\/enrol: origin http:\/\/evil\.example/);
    await untilLoggedEvent(
      events,
      (e) => e.kind === "console.unauthorized" && e.data.status === 401,
    );

    // A peer agent, so the live view has a peer and its trust.
    assert.equal((await web4(["keygen", "--out", `${dir}/b.pem`, "--agent-id", "bob"])).code, 0);
    const fa = (await serve.line(/^agent alice fingerprint ([0-9a-f]{64})$/))[1]!;
    const port = (await serve.line(/^listening on 127\.0\.0\.1:(\d+)$/))[1]!;
    await using bob = new Web4Process([
      "serve",
      "--key",
      `${dir}/b.pem`,
      "--listen",
      "127.0.0.1:0",
      "--peer",
      `127.0.0.1:${port}=${fa}`,
    ]);

    const browser = await puppeteer.launch({
      executablePath: browserPath,
      headless: true,
      args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e: unknown) => errors.push(String(e)));
      await page.setViewport({ width: 1280, height: 1000 });
      await page.goto(url);
      await page.waitForSelector("body[data-ready]");
      assert.equal(await text(page, "body", "dataset.ready"), "true", errors.join("\n"));
      const fp = await text(page, "#fingerprint");
      assert.match(fp, /^[0-9a-f]{64}$/);
      await serve.line(new RegExp(`^person ${fp} enrolled$`));
      await page.waitForFunction(
        `document.getElementById("enrolled")?.textContent === "you are this agent's person"`,
      );
      // The key is a non-extractable Ed25519 key in IndexedDB.
      const stored = await page.evaluate(`new Promise((resolve, reject) => {
        const req = indexedDB.open("web4-console", 1);
        req.onsuccess = () => {
          const get = req.result.transaction("keys").objectStore("keys").get("person");
          get.onsuccess = () => resolve({
            extractable: get.result.privateKey.extractable,
            algorithm: get.result.privateKey.algorithm.name,
          });
          get.onerror = () => reject(get.error);
        };
        req.onerror = () => reject(req.error);
      })`);
      assert.deepEqual(stored, { extractable: false, algorithm: "Ed25519" });
      // Opening the page enrolled the key and sent nothing: no consent, in words and badge.
      await page.waitForFunction(`document.getElementById("consent").textContent === "none yet"`);
      assert.match(await text(page, "#consent-text"), /not told your agent your consent yet/);
      assert.equal(await text(page, "#person-trust"), "untrusted");
      assert.equal(
        await page.evaluate(`document.querySelector("input[name=consent]:checked")`),
        null,
        "no consent is preselected",
      );
      // An intent before any consent is not sent at all.
      await page.click("#send-intent");
      await page.waitForFunction(
        `document.getElementById("intent-status").textContent.includes("holds no consent of yours yet")`,
      );
      await assertNextTo(page, "send-intent", "intent-status");
      // What the agent waits on, in words: the person's consent.
      assert.match(await text(page, "#waiting"), /^Your consent: choose/);

      // Grant consent (a click: the first HCP_HELLO), then an intent delivered.
      await page.click("input[name=consent][value=granted]");
      await page.click("#update-state");
      await untilLoggedEvent(
        events,
        (e) => e.kind === "trust.transition" && e.peer === fp && e.data.event === "valid_hello",
      );
      await untilLoggedEvent(
        events,
        (e) => e.kind === "router.dispatched" && e.peer === fp && e.data.type === "HCP_HELLO",
      );
      const first = (await readLoggedEvents(events)).find((e) =>
        e.kind === "router.dispatched" && e.peer === fp
      );
      assert.equal(
        first?.data.type,
        "HCP_HELLO",
        "the click's HELLO is the person's first message",
      );
      await page.waitForFunction(`document.getElementById("consent").textContent === "granted"`);
      assert.match(await text(page, "#consent-text"), /^You granted consent/);
      await page.evaluate(`document.getElementById("intent-topic").value = ""`);
      await page.type("#intent-topic", "topic:water");
      await page.click("#send-intent");
      await untilLoggedEvent(
        events,
        (e) =>
          e.kind === "agent.intent" && e.peer === fp && e.data.source === "person" &&
          e.data.topic === "topic:water",
      );
      await page.waitForFunction(
        `document.getElementById("replies").textContent.includes("Your intent on topic:water: delivered to your agent")`,
      );
      // The outcome also stands next to the button pressed.
      assert.equal(
        await text(page, "#intent-status"),
        "Your intent on topic:water: delivered to your agent",
      );
      await assertNextTo(page, "send-intent", "intent-status");
      assert.match(await text(page, "#waiting"), /^Nothing: your agent is not waiting on you/);
      // The live view reads as sentences, not log lines.
      await page.waitForFunction(
        `document.getElementById("events").textContent.includes("Your agent took your request on topic:water")`,
      );
      await page.waitForFunction(
        `document.getElementById("events").textContent.includes("You gave your consent: granted")`,
      );
      const eventsText = await text(page, "#events");
      assert.doesNotMatch(eventsText, /\b(agent|hcp|router|trust)\.[a-z_]+/, "no event kinds");
      assert.doesNotMatch(eventsText, /\b[a-z_]+=\S/, "no key=value fields");
      // The live view shows the peer (it reconnects after the enrolment restart) and its trust.
      await bob.line(/^connected to /);
      await page.waitForFunction(
        `document.getElementById("peers").textContent.includes("bob")`,
      );
      // Peers are named in the sentences once the page knows them, also in events shown before.
      await page.waitForFunction(
        `document.getElementById("events").textContent.includes("bob proved who it is")`,
      );
      assert.doesNotMatch(await text(page, "#events"), /\b[Pp]eer [0-9a-f]{8}\b/);
      await page.screenshot({ path: `${docs}console.png` });
      // A phone: one column, nothing overflows sideways (the layout broke at 420 px).
      for (const width of [420, 390]) {
        await page.setViewport({ width, height: 844 });
        await assertNoHorizontalOverflow(page, width);
      }
      await assertNextTo(page, "send-intent", "intent-status");
      await page.screenshot({ path: `${docs}console-phone.png`, fullPage: true });
      await page.setViewport({ width: 1280, height: 1000 });

      // Anxious: the agent checks in before the next action; the person answers "go on".
      await page.select("#affect", "anxious");
      await page.click("#update-state");
      await untilLoggedEvent(events, (e) => e.kind === "hcp.check_in_opened" && e.peer === fp);
      await page.click("#send-intent");
      await untilLoggedEvent(events, (e) => e.kind === "hcp.check_in_required" && e.peer === fp);
      await page.waitForFunction(
        `document.getElementById("replies").textContent.includes("held (check_in_required)")`,
      );
      await page.waitForFunction(`document.getElementById("checkin").style.display === "block"`);
      await page.click("#checkin-go");
      await untilLoggedEvent(
        events,
        (e) => e.kind === "hcp.check_in_answered" && e.peer === fp && e.data.goOn === true,
      );
      await page.select("#affect", "calm");
      await page.click("#update-state");

      // Intents far from the mission: the drift warning reaches the page.
      await page.evaluate(`document.getElementById("intent-topic").value = "topic:football"`);
      for (let i = 0; i < 4; i++) await page.click("#send-intent");
      await untilLoggedEvent(events, (e) => e.kind === "agent.mission_drift");
      await page.waitForFunction(
        `document.getElementById("drift").textContent.startsWith("drifting from the mission")`,
      );

      // Revoke consent: the next intent is refused, and the page says why.
      await page.click("input[name=consent][value=revoked]");
      await page.click("#update-state");
      await untilLoggedEvent(
        events,
        (e) => e.kind === "hcp.consent_changed" && e.peer === fp && e.data.to === "revoked",
      );
      await page.click("#send-intent");
      await untilLoggedEvent(events, (e) => e.kind === "hcp.refused" && e.peer === fp);
      await page.waitForFunction(
        `/refused \\(consent_revoked\\)/.test(document.getElementById("replies").textContent)`,
      );
      await page.waitForFunction(
        `document.getElementById("events").textContent.includes("You changed your consent from granted to revoked")`,
      );
      await page.waitForFunction(
        `document.getElementById("events").textContent.includes("Your agent refused your request on topic:football (consent revoked)")`,
      );
      await page.waitForFunction(
        `document.getElementById("person-trust").textContent === "restricted"`,
      );
      await page.waitForFunction(`document.getElementById("consent").textContent === "revoked"`);
      await page.evaluate("window.scrollTo(0, 0)");
      await page.screenshot({ path: `${docs}console-refused.png` });
      const consentChanges = async () =>
        (await readLoggedEvents(events)).filter((e) =>
          e.kind === "hcp.consent_changed" && e.peer === fp
        )
          .map((e) => e.data.to);
      assert.deepEqual(await consentChanges(), ["granted", "revoked"]);

      // Reload: the page shows what the agent holds (revoked), badges and words agreeing,
      // and its next intent carries it: refused by consent, nothing granted again.
      const stillRevoked = async (why: string) => {
        await page.goto(url);
        await page.waitForSelector("body[data-ready]");
        await page.waitForFunction(`document.getElementById("consent").textContent === "revoked"`);
        assert.match(await text(page, "#consent-text"), /^You revoked consent/, why);
        assert.equal(await text(page, "#person-trust"), "restricted", why);
        assert.equal(
          await page.evaluate(`document.querySelector("input[name=consent]:checked")?.value`),
          "revoked",
          why,
        );
        const before = (await readLoggedEvents(events)).filter((e) =>
          e.kind === "hcp.refused"
        ).length;
        await page.click("#send-intent");
        await untilLoggedEvent(events, (e) => e.kind === "hcp.refused" && e.peer === fp);
        await page.waitForFunction(
          `/refused \\(consent_revoked\\)/.test(document.getElementById("replies").textContent)`,
        );
        const refusals = (await readLoggedEvents(events)).filter((e) => e.kind === "hcp.refused");
        assert.ok(refusals.length > before, why);
        assert.equal(refusals.at(-1)?.data.code, "consent_revoked", why);
        assert.deepEqual(await consentChanges(), ["granted", "revoked"], why);
      };
      await stillRevoked("after a reload");

      // The agent restarts on its store (same console address and token): still revoked.
      assert.equal((await serve.stop("SIGTERM")).code, 0);
      await using again = new Web4Process(serveArgs);
      await again.line(/^console on /);
      await stillRevoked("after an agent restart");

      // Another browser (its own key) is not the person: it is told so, cannot act,
      // and sees none of the person's history: no consent, requests, peers, facts or events.
      const other = await browser.createBrowserContext();
      const page2 = await other.newPage();
      page2.on("pageerror", (e: unknown) => errors.push(String(e)));
      const asked: string[] = [];
      page2.on("request", (r: { url(): string }) => asked.push(new URL(r.url()).pathname));
      await page2.setViewport({ width: 390, height: 844 });
      await page2.goto(url);
      await page2.waitForSelector("body[data-ready]");
      await page2.waitForFunction(
        `document.getElementById("enrolled").textContent === "another key is this agent's person"`,
      );
      assert.match(
        await text(page2, "#page-status"),
        /This browser's key is not this agent's person/,
      );
      assert.equal(await text(page2, "body", "className"), "viewer");
      assert.equal(await text(page2, "h1", "innerText"), "Agent alice");
      assert.equal(await text(page2, "#consent"), "–");
      assert.match(await text(page2, "#consent-text"), /^Only this agent's person sees/);
      for (const id of ["replies", "events"]) {
        assert.equal(await text(page2, `#${id}`), "nothing yet", id);
        assert.equal(await text(page2, `#${id}`, "offsetParent"), "null", `${id} is hidden`);
      }
      for (const id of ["peers", "facts", "drift", "hcp-state", "hcp-intent"]) {
        assert.equal(await text(page2, `#${id}`, "offsetParent"), "null", `${id} is hidden`);
      }
      assert.doesNotMatch(await text(page2, "body", "innerText"), /topic:water|football|bob/);
      assert.ok(!asked.includes("/api/events"), "a viewer opens no event stream");
      // The server's rule, not the page's: this browser, with the token, asks for the history.
      const served = await page2.evaluate(`(async () => {
        const auth = { authorization: "Bearer " + new URLSearchParams(location.search).get("token") };
        const get = async (p) => { const r = await fetch(p, { headers: auth }); return [r.status, await r.text()]; };
        return [await get("/api/state"), await get("/api/peers"),
          await get("/api/facts?origin=cip&status=pending"), await get("/api/events")];
      })()`) as [number, string][];
      const viewerState = JSON.parse(served[0]![1]);
      assert.equal(viewerState.viewer, true);
      for (const key of ["human", "consent", "consentScope", "peers", "facts", "drift"]) {
        assert.ok(!(key in viewerState), `the server sends a viewer no ${key}`);
      }
      assert.deepEqual(served.slice(1).map(([status]) => status), [403, 403, 403]);
      await assertNoHorizontalOverflow(page2, 390);
      await page2.screenshot({ path: `${docs}console-viewer.png`, fullPage: true });
      await other.close();
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
    assert.equal((await bob.stop("SIGTERM")).code, 0);
    await serve.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  },
});
