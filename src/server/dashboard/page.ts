// The dashboard's page, style and script, served as they are (no bundler, no templating): the HTML
// holds no data, and the script builds every element with textContent and setAttribute, never
// innerHTML, so text from commit messages, PR titles and cluster events can only ever show as text.
// URLs are relative so the page also works behind a proxy that serves it under a sub-path.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Rewind · incidents</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header>
  <h1>Rewind</h1>
  <span class="tagline">Git-first rollbacks</span>
  <span id="live" class="live off" role="status">connecting…</span>
</header>
<main>
  <p id="problem" class="problem" role="alert" hidden></p>
  <section id="list">
    <h2>Incidents <span id="count" class="count"></span></h2>
    <table id="incidents">
      <thead><tr><th>State</th><th>App</th><th>Engine</th><th>Culprit</th><th>Revert / PR</th><th>Detected</th><th>Total</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="empty" class="empty">No incidents yet.</p>
  </section>
  <section id="detail" hidden></section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { --ok: #1a7f37; --bad: #cf222e; --progress: #9a6700; --muted: #6e7781; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328; background: #fff; }
header { display: flex; align-items: baseline; gap: 12px; padding: 12px 24px; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { margin: 0; font-size: 20px; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 14px; margin: 20px 0 6px; }
.tagline { color: var(--muted); }
.live { margin-left: auto; font-size: 12px; color: var(--muted); }
.live.on::before { content: "● "; color: var(--ok); }
.live.off::before { content: "○ "; color: var(--bad); }
main { padding: 16px 24px; }
.count { color: var(--muted); font-weight: normal; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
tbody tr { cursor: pointer; }
#incidents td:nth-child(-n+3), #incidents td:nth-child(n+5) { white-space: nowrap; }
tbody tr:hover, tbody tr.selected { background: #eef4ff; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: var(--bg); padding: 1px 4px; border-radius: 4px; }
a { color: #0969da; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: var(--progress); white-space: nowrap; }
.badge.ok { background: var(--ok); }
.badge.bad { background: var(--bad); }
.badge.muted { background: var(--muted); }
.empty, .none { color: var(--muted); }
.problem { padding: 8px 12px; border: 1px solid var(--bad); border-radius: 6px; color: var(--bad); }
#detail { margin-top: 24px; padding: 16px; border: 1px solid var(--line); border-radius: 8px; }
.detail-head { display: flex; align-items: center; gap: 12px; }
.detail-head h2 { margin: 0; }
.detail-head .close { margin-left: auto; }
.grid { display: grid; grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); gap: 24px; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 4px 16px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
ol.timeline { list-style: none; padding: 0; margin: 0; }
ol.timeline li { display: grid; grid-template-columns: 76px 60px 170px 170px minmax(0, 1fr); gap: 8px; padding: 4px 0; border-bottom: 1px dashed var(--line); }
.at, .delta { color: var(--muted); font-variant-numeric: tabular-nums; }
.reason { font-weight: 600; }
.reason, .message { overflow-wrap: anywhere; }
table.timings td { border: 0; padding: 2px 8px; white-space: nowrap; }
table.timings td.track { width: 50%; }
table.timings td.value { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { height: 8px; background: #54aeff; border-radius: 4px; min-width: 2px; }
ul.evidence { margin: 0; padding-left: 18px; }
`;

export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var state = { incidents: [], selected: null, detail: null };
  var CLASS_OF = { Converged: 'ok', Failed: 'bad', NeedsHuman: 'bad', Superseded: 'muted', Ignored: 'muted' };
  var STAGES = [
    ['detect', 'detect'], ['locate', 'locate culprit'], ['prepare', 'prepare revert'],
    ['pullRequest', 'pull request'], ['merge', 'merge / push'], ['reconcileRequest', 'reconcile request'],
    ['converge', 'converge'], ['total', 'total']
  ];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === 'class') node.className = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }
  function str(value) { return value === null || value === undefined ? '' : String(value); }
  function link(url, label) {
    if (typeof url === 'string' && /^https?:\/\//i.test(url)) return el('a', { href: url, rel: 'noreferrer noopener' }, [label]);
    return el('span', null, [label]);
  }
  function sha(value, url) { return link(url, el('code', null, [str(value).slice(0, 12)])); }
  function badge(condition) {
    var kind = Object.prototype.hasOwnProperty.call(CLASS_OF, condition) ? CLASS_OF[condition] : 'progress';
    return el('span', { class: 'badge ' + kind, 'data-condition': str(condition) }, [str(condition)]);
  }
  function seconds(ms) { return typeof ms === 'number' ? (ms / 1000).toFixed(2) + ' s' : '–'; }
  function time(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? str(iso) : d.toISOString().slice(11, 19) + 'Z';
  }
  function date(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? str(iso) : d.toISOString().slice(0, 19).replace('T', ' ') + 'Z';
  }
  function appName(i) { return i.app.namespace + '/' + i.app.name; }

  var DRY_RUN_REVERT = 'dry run: revert prepared, not pushed';
  function culpritCell(i) {
    if (!i.culprit && i.final) {
      // Ended before a culprit was found: why (what a person needs to act on), not "not located yet".
      var last = i.timeline.length ? i.timeline[i.timeline.length - 1] : null;
      return [el('span', { class: 'reason', title: last ? str(last.message) : '' }, [last ? str(last.reason) : str(i.condition)]),
        last ? ' ' : '', last ? el('span', { class: 'subject' }, [str(last.message)]) : ''];
    }
    if (!i.culprit) return [el('span', { class: 'none' }, ['not located yet'])];
    return [sha(i.culprit.sha, i.culprit.url), ' ', el('span', { class: 'subject' }, [str(i.culprit.subject)])];
  }
  function revertCell(i) {
    var parts = [];
    if (i.dryRun && i.revert) return [el('span', { class: 'none' }, [DRY_RUN_REVERT])];
    if (i.pullRequest) parts.push(link(i.pullRequest.url, 'PR #' + i.pullRequest.number), ' ');
    if (i.revert && i.revert.sha) parts.push('revert ', sha(i.revert.sha, i.revert.url));
    return parts.length ? parts : [el('span', { class: 'none' }, ['–'])];
  }

  function renderList() {
    var rows = state.incidents.map(function (i) {
      var row = el('tr', { 'data-id': i.id, tabindex: '0', class: i.id === state.selected ? 'selected' : '' }, [
        el('td', null, [badge(i.condition)]),
        el('td', null, [appName(i)]),
        el('td', null, [i.app.engine]),
        el('td', null, culpritCell(i)),
        el('td', null, revertCell(i)),
        el('td', null, [date(i.timeline.length ? i.timeline[0].at : '')]),
        el('td', null, [seconds(i.timingsMs.total)])
      ]);
      var open = function () { location.hash = '#/incidents/' + encodeURIComponent(i.id); };
      row.addEventListener('click', open);
      row.addEventListener('keydown', function (e) { if (e.key === 'Enter') open(); });
      return row;
    });
    document.querySelector('#incidents tbody').replaceChildren.apply(document.querySelector('#incidents tbody'), rows);
    document.getElementById('empty').hidden = rows.length > 0;
    document.getElementById('count').textContent = rows.length ? '(' + rows.length + ')' : '';
  }

  function fact(term, value) { return [el('dt', null, [term]), el('dd', null, Array.isArray(value) ? value : [value])]; }
  function facts(i) {
    var rows = [];
    var add = function (term, value) { rows.push.apply(rows, fact(term, value)); };
    add('Engine', i.app.engine);
    add('Trigger', i.trigger + (i.dryRun ? ' (dry run)' : '') + (i.requestedBy ? ', by ' + i.requestedBy : ''));
    if (i.health) add('Failure', [el('span', { class: 'reason' }, [i.health.reason]), ' ', i.health.message]);
    if (i.source) add('Source', [el('code', null, [i.source.url]), ' @ ', i.source.branch]);
    add('Bad revision', sha(i.badRevision, null));
    if (i.goodRevision) add('Last good', sha(i.goodRevision, null));
    if (i.culprit) {
      add('Culprit', [sha(i.culprit.sha, i.culprit.url), ' ', el('span', { class: 'subject' }, [str(i.culprit.subject)])]);
      var why = [i.culprit.rule, i.culprit.confidence && 'confidence ' + i.culprit.confidence,
        i.culprit.rangeCommits !== null && i.culprit.rangeCommits + ' commit(s) in range'].filter(Boolean);
      if (why.length) add('Decided by', why.join(', '));
    }
    if (i.templateChanges.length) add('Changed', list(i.templateChanges));
    if (i.revert) {
      if (i.dryRun) add('Revert', [DRY_RUN_REVERT + (i.revert.sha ? ' (' + str(i.revert.sha).slice(0, 12) + ', ' + i.revert.kind + ')' : '')]);
      else add('Revert', [i.revert.kind + ' ', i.revert.sha ? sha(i.revert.sha, i.revert.url) : 'not pushed']);
      if (i.revert.paths.length) add('Reverted paths', list(i.revert.paths));
    }
    if (i.pullRequest) add('Pull request', [link(i.pullRequest.url, '#' + i.pullRequest.number), ' ', el('code', null, [i.pullRequest.branch])]);
    if (i.merge) add('Merged as', [sha(i.merge.sha, i.merge.url), i.merge.method ? ' (' + i.merge.method + ')' : '']);
    add('Updated', date(i.updatedAt));
    return el('dl', { class: 'facts' }, rows);
  }
  function list(items) { return el('ul', { class: 'evidence' }, items.map(function (t) { return el('li', null, [t]); })); }

  function timeline(i) {
    var start = i.timeline.length ? Date.parse(i.timeline[0].at) : NaN;
    return el('ol', { class: 'timeline' }, i.timeline.map(function (c) {
      var delta = Date.parse(c.at) - start;
      return el('li', { 'data-condition': c.type }, [
        el('span', { class: 'at' }, [time(c.at)]),
        el('span', { class: 'delta' }, [isNaN(delta) ? '' : '+' + (delta / 1000).toFixed(2) + 's']),
        el('span', null, [badge(c.type)]),
        el('span', { class: 'reason' }, [c.reason]),
        el('span', { class: 'message' }, [c.message])
      ]);
    }));
  }

  function timings(i) {
    var t = i.timingsMs;
    var longest = Math.max.apply(null, STAGES.map(function (s) { return typeof t[s[0]] === 'number' && s[0] !== 'total' ? t[s[0]] : 0; }).concat([1]));
    var rows = STAGES.filter(function (s) { return typeof t[s[0]] === 'number'; }).map(function (s) {
      var bar = el('div', { class: 'bar' });
      bar.style.width = s[0] === 'total' ? '100%' : Math.round((100 * t[s[0]]) / longest) + '%';
      return el('tr', null, [el('td', null, [s[1]]), el('td', { class: 'value' }, [seconds(t[s[0]])]), el('td', { class: 'track' }, [bar])]);
    });
    return el('div', null, [el('h3', null, ['Stage timings']),
      rows.length ? el('table', { class: 'timings' }, [el('tbody', null, rows)]) : el('p', { class: 'none' }, ['none yet'])]);
  }

  function verification(i) {
    var items = i.verification.map(function (v) {
      return el('li', null, [el('code', null, [v.namespace + '/' + v.name]), ' ', el('span', { class: 'reason' }, [v.state]),
        v.reasons.length ? list(v.reasons) : null]);
    });
    var warnings = i.warnings.map(function (w) { return el('li', null, ['warning: ' + w]); });
    if (!items.length && !warnings.length) return el('p', { class: 'none' }, [i.final ? 'nothing recorded' : 'not verified yet']);
    return el('ul', { class: 'evidence verification' }, items.concat(warnings));
  }

  function renderDetail() {
    var section = document.getElementById('detail');
    var i = state.detail;
    if (!state.selected || !i) { section.hidden = true; section.replaceChildren(); return; }
    section.hidden = false;
    section.replaceChildren(
      el('div', { class: 'detail-head' }, [el('h2', null, [appName(i)]), badge(i.condition), el('a', { href: '#/', class: 'close' }, ['close'])]),
      el('p', null, [el('code', { class: 'incident-id' }, [i.id])]),
      el('div', { class: 'grid' }, [facts(i), timings(i)]),
      el('h3', null, ['Timeline']),
      timeline(i),
      el('h3', null, ['Verification evidence']),
      verification(i)
    );
  }

  function showDetail() {
    if (!state.selected) { state.detail = null; renderDetail(); return; }
    var found = state.incidents.filter(function (i) { return i.id === state.selected; })[0];
    if (found) { state.detail = found; renderDetail(); return; }
    var wanted = state.selected;
    fetch('../api/incidents/' + encodeURIComponent(wanted), { headers: { accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (i) { if (state.selected === wanted) { state.detail = i && i.id === wanted ? i : null; renderDetail(); } })
      .catch(function () {});
  }

  function route() {
    var m = /^#\/incidents\/(.+)$/.exec(location.hash);
    try { state.selected = m ? decodeURIComponent(m[1]) : null; } catch (e) { state.selected = null; }
    renderList();
    showDetail();
  }

  function problem(message) {
    var p = document.getElementById('problem');
    p.hidden = !message;
    p.textContent = message || '';
  }
  function setLive(on, label) {
    var live = document.getElementById('live');
    live.className = 'live ' + (on ? 'on' : 'off');
    live.textContent = label;
  }
  function received(incidents) {
    state.incidents = Array.isArray(incidents) ? incidents : [];
    problem(null);
    renderList();
    showDetail();
  }

  // Server-Sent Events; when the server refuses the stream (too many pages open) the page reads the
  // list once and tries the stream again later.
  function connect() {
    var source = new EventSource('../api/events');
    source.addEventListener('open', function () { setLive(true, 'live'); });
    source.addEventListener('incidents', function (e) { received(JSON.parse(e.data)); });
    source.addEventListener('problem', function (e) { problem(JSON.parse(e.data)); });
    source.addEventListener('error', function () {
      if (source.readyState !== EventSource.CLOSED) { setLive(false, 'reconnecting…'); return; }
      setLive(false, 'live updates unavailable; retrying in 10 s');
      fetch('../api/incidents', { headers: { accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error(String(r.status))); })
        .then(function (body) { received(body.incidents); })
        .catch(function () {});
      setTimeout(connect, 10000);
    });
  }

  window.addEventListener('hashchange', route);
  route();
  connect();
})();
`;
