/**
 * The console page's HTML and CSS (its script is the bundle of `./page.ts`).
 *
 * @module
 */

/**
 * The page, with the script's URL carrying the token.
 *
 * @param token The console token (only ever sent to its holder).
 * @returns The HTML.
 */
export function pageHtml(token: string): string {
  const t = encodeURIComponent(token);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>web4 console</title>
<style>
  :root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e2e5eb; --accent:#2f6fdf;
          --ok:#1f8a4c; --warn:#b7791f; --bad:#c53030; font-family: system-ui, sans-serif; }
  * { box-sizing: border-box; }
  body { margin:0; background:var(--bg); color:var(--ink); font-size:14px; }
  header { display:flex; gap:16px; align-items:baseline; padding:12px 20px; background:#1d2330; color:#fff; flex-wrap:wrap; }
  header h1 { font-size:17px; margin:0; }
  header .muted { color:#aab2c5; }
  code, .fp { font-family: ui-monospace, monospace; font-size:12px; word-break:break-all; }
  main { display:grid; grid-template-columns: minmax(320px, 420px) 1fr; gap:16px; padding:16px 20px; }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin-bottom:16px; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:0 0 10px; }
  label { display:block; margin:6px 0 2px; color:var(--muted); font-size:12px; }
  input[type=text], select, textarea { width:100%; padding:6px 8px; border:1px solid var(--line); border-radius:5px; font:inherit; }
  input[type=range] { width:100%; }
  .row { display:flex; gap:8px; } .row > * { flex:1; }
  button { margin-top:10px; padding:7px 12px; border:0; border-radius:5px; background:var(--accent); color:#fff; font:inherit; cursor:pointer; }
  button.secondary { background:#e8edf7; color:var(--ink); }
  .consent { display:flex; gap:6px; } .consent label { flex:1; margin:0; padding:6px; border:1px solid var(--line); border-radius:5px; text-align:center; color:var(--ink); cursor:pointer; }
  .consent input { margin-right:4px; }
  .pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; background:#e8edf7; }
  .pill.trusted, .pill.granted, .pill.accepted { background:#dcf3e5; color:var(--ok); }
  .pill.probing, .pill.limited, .pill.pending { background:#fdf1d8; color:var(--warn); }
  .pill.untrusted, .pill.restricted, .pill.revoked, .pill.rejected, .pill.disputed { background:#fbe0e0; color:var(--bad); }
  ul.list { list-style:none; margin:0; padding:0; max-height:260px; overflow:auto; }
  ul.list li { padding:5px 0; border-bottom:1px solid var(--line); }
  li.refused { color:var(--bad); } li.warn { color:var(--warn); } li.accepted { color:var(--ok); }
  #events li { font-family: ui-monospace, monospace; font-size:12px; }
  table { width:100%; border-collapse:collapse; } td, th { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); font-size:13px; }
  #checkin { display:none; border-color:var(--warn); background:#fffaf0; }
  #status { min-height:1.4em; margin-top:8px; }
  .grid2 { display:grid; grid-template-columns:1fr 1fr; gap:16px; }
  .empty { color:var(--muted); }
  .drift { color:var(--warn); font-weight:600; }
  button.more { margin-top:4px; padding:3px 8px; font-size:12px; }
</style>
</head>
<body>
<header>
  <h1>web4 console</h1>
  <span>agent <b id="agent-id">…</b> <span class="muted fp" id="agent-fp"></span></span>
  <span class="muted">mission: <span id="mission"></span></span>
  <span class="muted">presence <span id="presence"></span> · lri <span id="lri"></span></span>
</header>
<main>
<div>
  <section id="you">
    <h2>You</h2>
    <div>Your key (made in this browser, never leaves it): <div class="fp" id="fingerprint">generating…</div></div>
    <div style="margin-top:6px">Enrolment: <span id="enrolled" class="pill">…</span> · Social trust: <span id="person-trust" class="pill">–</span></div>
    <div style="margin-top:6px">Consent your agent holds: <span id="consent" class="pill">…</span></div>
    <div id="consent-text" style="margin-top:4px">…</div>
  </section>
  <section id="checkin">
    <h2>The agent checks in</h2>
    <div id="checkin-text">Before going on, the agent asks how you are.</div>
    <div class="row"><button id="checkin-go">Go on</button><button id="checkin-stop" class="secondary">Not now</button></div>
  </section>
  <section id="hcp-state">
    <h2>Consent and state</h2>
    <div class="consent">
      <label><input type="radio" name="consent" value="granted">granted</label>
      <label><input type="radio" name="consent" value="limited">limited</label>
      <label><input type="radio" name="consent" value="revoked">revoked</label>
    </div>
    <label for="scope">Scope (when limited; comma separated, e.g. topic:water, topic:*)</label>
    <input type="text" id="scope" value="" placeholder="topic:*">
    <div class="row">
      <div><label for="pressure">Pressure <span id="pressure-v">20</span></label><input type="range" id="pressure" min="0" max="100" value="20"></div>
      <div><label for="clarity">Clarity <span id="clarity-v">80</span></label><input type="range" id="clarity" min="0" max="100" value="80"></div>
    </div>
    <label for="affect">Affect</label>
    <select id="affect"><option>calm</option><option>neutral</option><option>energized</option><option>tense</option><option>anxious</option></select>
    <button id="update-state">Update consent and state</button>
    <div class="muted" style="margin-top:6px">Nothing reaches your agent until you click.</div>
  </section>
  <section id="hcp-intent">
    <h2>Intent</h2>
    <div class="row">
      <div><label for="intent-goal">Goal</label><select id="intent-goal"><option>request</option><option>align</option><option>clarify</option><option>decide</option><option>resolve_conflict</option></select></div>
      <div><label for="intent-priority">Priority</label><select id="intent-priority"><option>normal</option><option>high</option><option>low</option></select></div>
    </div>
    <label for="intent-topic">Topic</label><input type="text" id="intent-topic" value="topic:water">
    <button id="send-intent">Send intent</button>
  </section>
  <section id="hcp-more">
    <h2>Context and feedback</h2>
    <label for="context-text">Context</label><input type="text" id="context-text" placeholder="what the agent should know">
    <button id="send-context" class="secondary">Send context</button>
    <label for="feedback-text">Feedback</label><input type="text" id="feedback-text" placeholder="how it went">
    <label for="satisfaction">Satisfaction <span id="satisfaction-v">70</span></label><input type="range" id="satisfaction" min="0" max="100" value="70">
    <button id="send-feedback" class="secondary">Send feedback</button>
    <div id="status" class="muted"></div>
  </section>
</div>
<div>
  <section>
    <h2>From your agent</h2>
    <ul class="list" id="replies"><li class="empty">nothing yet</li></ul>
  </section>
  <div class="grid2">
    <section>
      <h2>Peers</h2>
      <table><thead><tr><th>agent</th><th>fingerprint</th><th>trust</th></tr></thead><tbody id="peers"><tr><td colspan="3" class="empty">no peers connected</td></tr></tbody></table>
      <button id="peers-more" class="more secondary" style="display:none">more peers</button>
    </section>
    <section>
      <h2>Mission drift</h2>
      <div id="drift" class="empty">aligned</div>
    </section>
  </div>
  <section>
    <h2>Facts and LIP claims</h2>
    <div id="facts" class="empty">none yet</div>
  </section>
  <section>
    <h2>Live events</h2>
    <ul class="list" id="events"></ul>
  </section>
</div>
</main>
<script type="module" src="/console.js?token=${t}"></script>
</body>
</html>
`;
}
