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
  * { box-sizing: border-box; min-width:0; }
  html, body { overflow-x:hidden; }
  body { margin:0; background:var(--bg); color:var(--ink); font-size:15px; line-height:1.4; overflow-wrap:anywhere; }
  header { padding:12px 16px; background:#1d2330; color:#fff; }
  header h1 { font-size:18px; margin:0; }
  header .muted { color:#aab2c5; font-size:13px; }
  code, .fp { font-family: ui-monospace, monospace; font-size:12px; word-break:break-all; }
  main { display:grid; grid-template-columns: minmax(0, 5fr) minmax(0, 7fr); gap:16px; padding:16px; max-width:1280px; margin:0 auto; }
  @media (max-width: 760px) { main { grid-template-columns: minmax(0, 1fr); padding:10px; gap:0; } .grid2 { grid-template-columns: minmax(0, 1fr) !important; gap:0 !important; } }
  section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin-bottom:16px; }
  h2 { font-size:13px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted); margin:0 0 10px; }
  h3 { font-size:14px; margin:12px 0 4px; }
  label { display:block; margin:6px 0 2px; color:var(--muted); font-size:13px; }
  input[type=text], select, textarea { width:100%; padding:7px 8px; border:1px solid var(--line); border-radius:5px; font:inherit; }
  input[type=range] { width:100%; }
  .row { display:flex; gap:8px; flex-wrap:wrap; } .row > * { flex:1 1 140px; }
  .actions { display:flex; gap:8px; align-items:center; flex-wrap:wrap; margin-top:10px; }
  button { padding:8px 14px; border:0; border-radius:5px; background:var(--accent); color:#fff; font:inherit; cursor:pointer; }
  button.secondary { background:#e8edf7; color:var(--ink); }
  .status { flex:1 1 160px; font-size:13px; color:var(--muted); }
  .status.bad { color:var(--bad); } .status.ok { color:var(--ok); }
  .consent { display:flex; gap:6px; } .consent label { flex:1; margin:0; padding:8px 4px; border:1px solid var(--line); border-radius:5px; text-align:center; color:var(--ink); cursor:pointer; }
  .consent input { margin-right:4px; }
  .pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; background:#e8edf7; }
  .pill.trusted, .pill.granted, .pill.accepted { background:#dcf3e5; color:var(--ok); }
  .pill.probing, .pill.limited, .pill.pending { background:#fdf1d8; color:var(--warn); }
  .pill.untrusted, .pill.restricted, .pill.revoked, .pill.rejected, .pill.disputed, .pill.blacklisted { background:#fbe0e0; color:var(--bad); }
  ul.list { list-style:none; margin:0; padding:0; max-height:300px; overflow-y:auto; }
  ul.list li { padding:6px 0; border-bottom:1px solid var(--line); }
  li .when { color:var(--muted); font-size:12px; margin-right:6px; font-variant-numeric:tabular-nums; }
  li.refused, li.bad { color:var(--bad); } li.warn { color:var(--warn); } li.accepted, li.ok { color:var(--ok); }
  table { width:100%; border-collapse:collapse; table-layout:fixed; } td, th { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); font-size:13px; }
  #checkin { display:none; margin-top:10px; padding:10px; border:1px solid var(--warn); border-radius:6px; background:#fffaf0; }
  #overview .big { font-size:16px; }
  #consent-text { margin-top:4px; }
  .grid2 { display:grid; grid-template-columns:minmax(0, 1fr) minmax(0, 1fr); gap:16px; }
  .empty { color:var(--muted); }
  .drift { color:var(--warn); font-weight:600; }
  button.more { margin-top:4px; padding:3px 8px; font-size:12px; }
  #page-status:empty { display:none; }
  #page-status { margin:10px 16px 0; padding:10px 14px; border-radius:8px; background:#fbe0e0; color:var(--bad); }
  body.viewer .person-only { display:none; }
  details summary { cursor:pointer; color:var(--muted); font-size:13px; }
</style>
</head>
<body>
<header>
  <h1><span id="whose">Your agent</span> <span id="agent-id">…</span></h1>
  <div class="muted">mission: <span id="mission"></span> · <span id="presence-text"></span></div>
</header>
<div id="page-status"></div>
<main>
<div>
  <section id="overview">
    <h2>At a glance</h2>
    <div class="big person-only">Your consent: <span id="consent" class="pill">…</span></div>
    <div id="consent-text">…</div>
    <h3>Waiting on</h3>
    <div id="waiting" class="empty">nothing: your agent is not waiting on you</div>
    <div id="checkin">
      <div id="checkin-text">Before going on, your agent asks how you are. Shall it go on?</div>
      <div class="actions"><button id="checkin-go">Go on</button><button id="checkin-stop" class="secondary">Not now</button><span class="status" id="checkin-status" role="status"></span></div>
    </div>
    <h3 class="person-only">What your agent did for you</h3>
    <ul class="list person-only" id="replies"><li class="empty">nothing yet</li></ul>
  </section>
  <section id="hcp-state" class="person-only">
    <h2>Your consent and how you are</h2>
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
    <label for="affect">How you feel</label>
    <select id="affect"><option>calm</option><option>neutral</option><option>energized</option><option>tense</option><option>anxious</option></select>
    <div class="actions"><button id="update-state">Update consent and state</button><span class="status" id="state-status" role="status">Nothing reaches your agent until you click.</span></div>
  </section>
  <section id="hcp-intent" class="person-only">
    <h2>Ask your agent</h2>
    <div class="row">
      <div><label for="intent-goal">Goal</label><select id="intent-goal"><option>request</option><option>align</option><option>clarify</option><option>decide</option><option>resolve_conflict</option></select></div>
      <div><label for="intent-priority">Priority</label><select id="intent-priority"><option>normal</option><option>high</option><option>low</option></select></div>
    </div>
    <label for="intent-topic">Topic</label><input type="text" id="intent-topic" value="topic:water">
    <div class="actions"><button id="send-intent">Send intent</button><span class="status" id="intent-status" role="status"></span></div>
  </section>
  <section id="hcp-more" class="person-only">
    <h2>Tell your agent</h2>
    <label for="context-text">Context</label><input type="text" id="context-text" placeholder="what the agent should know">
    <div class="actions"><button id="send-context" class="secondary">Send context</button><span class="status" id="context-status" role="status"></span></div>
    <label for="feedback-text">Feedback</label><input type="text" id="feedback-text" placeholder="how it went">
    <label for="satisfaction">Satisfaction <span id="satisfaction-v">70</span></label><input type="range" id="satisfaction" min="0" max="100" value="70">
    <div class="actions"><button id="send-feedback" class="secondary">Send feedback</button><span class="status" id="feedback-status" role="status"></span></div>
  </section>
</div>
<div>
  <section class="person-only">
    <h2>What happened</h2>
    <ul class="list" id="events"><li class="empty">nothing yet</li></ul>
  </section>
  <div class="grid2 person-only">
    <section>
      <h2>Peers</h2>
      <table><thead><tr><th>agent</th><th>fingerprint</th><th>trust</th></tr></thead><tbody id="peers"><tr><td colspan="3" class="empty">no peers connected</td></tr></tbody></table>
      <button id="peers-more" class="more secondary" style="display:none">more peers</button>
    </section>
    <section>
      <h2>Mission</h2>
      <div id="drift" class="empty">aligned</div>
    </section>
  </div>
  <section class="person-only">
    <h2>Facts and LIP claims</h2>
    <div id="facts" class="empty">none yet</div>
  </section>
  <section id="you">
    <h2>This browser</h2>
    <div>Enrolment: <span id="enrolled" class="pill">…</span> <span class="person-only">· your standing: <span id="person-trust" class="pill">–</span></span></div>
    <details><summary>keys and fingerprints</summary>
      <div>Your key (made in this browser, never leaves it): <div class="fp" id="fingerprint">generating…</div></div>
      <div>Your agent's key: <div class="fp" id="agent-fp"></div></div>
    </details>
  </section>
</div>
</main>
<script type="module" src="/console.js?token=${t}"></script>
</body>
</html>
`;
}
