/* antibot dashboard: vanilla JS, no build step, no third-party code.
 *
 * Talks to the admin API under /api/v1 with the Bearer token the operator pasted (kept in
 * sessionStorage). Every value that comes from a call (From, User-Agent, ...) is attacker
 * controlled, so the DOM is built with textContent only (see h()), never innerHTML.
 */
'use strict';

(() => {
  const API = '/api/v1';
  const TOKEN_KEY = 'antibot.token';
  const POLL_MS = 2000;
  const PAGE = 50;
  const VERDICTS = ['pass', 'suspect', 'reject', 'drop'];
  const BLOCKED = ['suspect', 'reject', 'drop'];
  const SPAN = { minute: 60, hour: 48 };
  const LIST_TYPES = [
    ['cidrs', 'Source CIDRs', '203.0.113.0/24'],
    ['numbers', 'Numbers', '+4420…'],
    ['user_agents', 'User agents', 'friendly-scanner'],
  ];

  const state = {
    token: null,
    role: null,
    view: 'calls',
    query: {},           // the applied call filters (API parameter names)
    items: [],           // loaded calls, newest first
    cursor: null,        // next_cursor of the last page loaded with "load more"
    pages: 0,
    bucket: 'minute',
    live: true,
    timer: null,
    inflight: { poll: false, stats: false },
    detail: null,        // the call shown in the drawer
    settings: null,
    rules: [],
    lists: null,
    rendered: '',        // signature of the rendered table, to skip identical re-renders
  };

  // ------------------------------------------------------------------ helpers
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  /** Build an element: h('td', {class: 'x', dataset: {call: id}, style: {width: '5%'}, onclick: fn}, 'text', child). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'testid') el.setAttribute('data-testid', v);
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      // CSSOM, not a style attribute: the CSP (style-src 'self') forbids inline style attributes.
      else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, String(val));
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const SVG_NS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function show(el, text) {
    el.textContent = text || '';
    el.hidden = !text;
  }

  const pad = (n) => String(n).padStart(2, '0');
  function fmtTime(ts, withDate) {
    const t = Number(ts);
    if (!Number.isFinite(t) || t <= 0) return '—';
    const d = new Date(t * 1000);
    const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    const today = new Date().toDateString() === d.toDateString();
    return withDate || !today ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}` : hms;
  }
  function fmtScore(v) {
    const n = Number(v);
    return Number.isFinite(n) ? n.toFixed(3) : '—';
  }
  function fmtNum(v) {
    const n = Number(v);
    if (!Number.isFinite(n)) return String(v);
    if (Number.isInteger(n)) return String(n);
    return Math.abs(n) >= 100 ? n.toFixed(1) : n.toFixed(3).replace(/\.?0+$/, '');
  }
  /** A list given as an array or as a comma-separated string. */
  const splitList = (v) => (Array.isArray(v) ? v.map(String) : String(v || '').split(','))
    .map((x) => x.trim()).filter(Boolean);

  function verdictPill(v) {
    const name = VERDICTS.includes(v) ? v : 'unknown';
    return h('span', { class: `pill v-${name}`, testid: 'verdict' }, v || '?');
  }

  /** FastAPI's {"detail": ...}: a string, or a list of {loc, msg}. */
  function detailMessage(detail) {
    if (typeof detail === 'string') return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        if (d && typeof d === 'object') {
          const loc = (d.loc || []).filter((x) => x !== 'body' && x !== 'query' && x !== 'path').join('.');
          return loc ? `${loc}: ${d.msg}` : String(d.msg);
        }
        return String(d);
      }).join('; ');
    }
    return detail ? JSON.stringify(detail) : '';
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** One API call; 401 signs out (unless told not to), other errors become ApiError with the message. */
  async function api(method, path, body, opts = {}) {
    const headers = { Authorization: `Bearer ${opts.token || state.token}`, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch (err) {
      throw new ApiError(0, `cannot reach the API (${err.message})`);
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.status === 401 && !opts.noSignOut) {
      signOut('Your token was refused (401). Sign in again.');
      throw new ApiError(401, 'unauthorized');
    }
    if (!res.ok) {
      let msg = text || res.statusText;
      if (data && typeof data.message === 'string' && data.message) msg = data.message;
      else if (data && data.detail !== undefined) msg = detailMessage(data.detail);
      // 422: the API's validation message says it all; other statuses are named
      const prefix = { 422: '', 403: 'Not allowed: ', 404: 'Not found: ' }[res.status] ?? `Error ${res.status}: `;
      throw new ApiError(res.status, `${prefix}${msg}`);
    }
    return data;
  }

  const isAdmin = () => state.role === 'admin';

  /** Viewers see editing controls disabled (the API refuses their writes with 403 anyway). */
  function applyRole(root = document) {
    for (const el of $$('.admin-only', root)) {
      // data-stuck: disabled whatever the role (e.g. "move up" on the first rule)
      el.disabled = !isAdmin() || el.hasAttribute('data-stuck');
      if (!isAdmin()) el.title = 'read-only: viewer token';
    }
  }

  let bannerTimer = null;
  function banner(text, kind = 'info') {
    const el = $('#banner');
    el.className = `banner banner-${kind}`;
    show(el, text);
    clearTimeout(bannerTimer);
    if (text) bannerTimer = setTimeout(() => show(el, ''), 6000);
  }

  // ------------------------------------------------------------------ login
  async function signIn(token) {
    const me = await api('GET', '/me', undefined, { token, noSignOut: true });
    if (!me || !me.role) throw new ApiError(0, 'unexpected answer from /me');
    state.token = token;
    state.role = me.role;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('#login').hidden = true;
    $('#app').hidden = false;
    document.body.classList.toggle('is-viewer', !isAdmin());
    const badge = $('#role-badge');
    badge.textContent = me.role;
    badge.className = `pill pill-role role-${me.role}`;
    applyRole();
    setView(location.hash.replace('#', '') || 'calls');
    resetFilters();
    loadSettings();
    startTimer();
  }

  function signOut(message) {
    stopTimer();
    state.token = null;
    state.role = null;
    state.items = [];
    state.rendered = '';
    sessionStorage.removeItem(TOKEN_KEY);
    closeDetail();
    $('#calls-body').replaceChildren();
    $('#app').hidden = true;
    $('#login').hidden = false;
    $('#login-token').value = '';
    show($('#login-error'), message || '');
    $('#login-token').focus();
  }

  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = $('#login-token').value.trim();
    if (!token) return;
    const btn = $('[data-testid=login-submit]');
    btn.disabled = true;
    try {
      await signIn(token);
    } catch (err) {
      show($('#login-error'), err.status === 401 ? 'This token was refused.' : err.message);
    } finally {
      btn.disabled = false;
    }
  });
  $('#logout').addEventListener('click', () => signOut());

  // ------------------------------------------------------------------ views
  function setView(view) {
    if (!['calls', 'policy', 'model'].includes(view)) view = 'calls';
    state.view = view;
    for (const tab of $$('.tab')) tab.setAttribute('aria-selected', String(tab.dataset.view === view));
    for (const sec of $$('.view')) sec.hidden = sec.id !== `view-${view}`;
    if (location.hash !== `#${view}`) history.replaceState(null, '', `#${view}`);
    if (view === 'policy') loadPolicy();
    if (view === 'model') loadModel();
    if (view === 'calls') loadStats();
  }
  for (const tab of $$('.tab')) tab.addEventListener('click', () => setView(tab.dataset.view));

  // ------------------------------------------------------------------ live refresh
  function startTimer() {
    stopTimer();
    state.timer = setInterval(tick, POLL_MS);
    $('#live-dot').classList.toggle('on', state.live);
  }
  function stopTimer() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }
  function tick() {
    if (!state.live || !state.token || document.visibilityState === 'hidden') return;
    if (state.view === 'calls') {
      pollCalls();
      loadStats();
    }
  }
  $('#live-toggle').addEventListener('change', (ev) => {
    state.live = ev.target.checked;
    $('#live-dot').classList.toggle('on', state.live);
    if (state.live) tick();
  });

  // ------------------------------------------------------------------ calls
  const form = $('#filters');

  function toEpoch(local) {
    if (!local) return '';
    const t = new Date(local).getTime();
    return Number.isFinite(t) ? String(Math.floor(t / 1000)) : '';
  }

  /** The form as API query parameters (empty ones left out). */
  function readFilters() {
    const f = new FormData(form);
    const q = {};
    const verdict = f.get('verdict');
    if (verdict === 'blocked') q.verdict = BLOCKED.join(',');
    else if (verdict && verdict !== 'all') q.verdict = verdict;
    for (const key of ['src', 'from', 'to', 'ua', 'rule', 'reason', 'min_score', 'max_score']) {
      const v = String(f.get(key) || '').trim();
      if (v) q[key] = v;
    }
    const range = f.get('range');
    if (range === 'custom') {
      const since = toEpoch(f.get('since'));
      const until = toEpoch(f.get('until'));
      if (since) q.since = since;
      if (until) q.until = until;
    } else if (range) {
      q.since = String(Math.floor(Date.now() / 1000) - Number(range));
    }
    return q;
  }

  function callsPath(q, cursor) {
    const params = new URLSearchParams(q);
    // a relative range ("last hour") moves with the clock on every poll
    const range = form.elements.range.value;
    if (range && range !== 'custom') params.set('since', String(Math.floor(Date.now() / 1000) - Number(range)));
    params.set('limit', String(PAGE));
    if (cursor) params.set('cursor', cursor);
    return `/calls?${params}`;
  }

  function titleFor(q) {
    const v = form.elements.verdict.value;
    return { blocked: 'Blocked calls', all: 'All calls' }[v] || `Calls: ${v}`;
  }

  async function applyFilters() {
    state.query = readFilters();
    state.items = [];
    state.cursor = null;
    state.pages = 0;
    state.rendered = '';
    $('#calls-title').textContent = titleFor(state.query);
    await loadMore();
  }

  /** One page of calls (``verdict`` may list several: suspect,reject,drop). */
  const fetchPage = (q, cursor) => api('GET', callsPath(q, cursor));

  /** Whether a call matches the verdict filter (the API filters already; this only guards). */
  function wanted(item) {
    const v = state.query.verdict;
    return !v || v.split(',').includes(item.verdict);
  }

  async function loadMore() {
    const q = state.query;
    try {
      const page = await fetchPage(q, state.cursor);
      if (q !== state.query) return; // filters changed meanwhile
      merge(page.items || [], true);
      state.cursor = page.next_cursor || null;
      state.pages += 1;
      show($('#calls-error'), '');
    } catch (err) {
      if (err.status !== 401) show($('#calls-error'), err.message);
    }
    renderCalls();
  }

  /** Live refresh: the first page again; new calls go on top, known ones are updated (outcomes). */
  async function pollCalls() {
    if (state.inflight.poll) return;
    state.inflight.poll = true;
    const q = state.query;
    try {
      const page = await fetchPage(q, null);
      if (q !== state.query) return;
      merge(page.items || [], false);
      if (state.pages === 0) {
        state.cursor = page.next_cursor || null;
        state.pages = 1;
      }
      show($('#calls-error'), '');
      renderCalls();
    } catch (err) {
      if (err.status !== 401) show($('#calls-error'), err.message);
    } finally {
      state.inflight.poll = false;
    }
  }

  function merge(items, older) {
    const known = new Map(state.items.map((c, i) => [c.call, i]));
    const fresh = [];
    for (const item of items.filter(wanted)) {
      const i = known.get(item.call);
      if (i === undefined) fresh.push(item);
      else state.items[i] = item;
    }
    state.items = older ? state.items.concat(fresh) : fresh.concat(state.items);
    state.items.sort((a, b) => Number(b.ts) - Number(a.ts));
  }

  /** What became of a call: antibot's own answer for a call it refused ("rejected by antibot
   * (603)", the status from the call log entry; "dropped by antibot"), else the PBX's outcome. */
  function callOutcome(c) {
    if (c.action === 'reject') return `rejected by antibot${c.status ? ` (${c.status})` : ''}`;
    if (c.action === 'drop') return 'dropped by antibot';
    return outcomeText(c.outcome);
  }

  /** The suspect threshold in force (the settings), 0.5 until they are loaded. */
  function suspectAt() {
    const t = Number(state.settings && state.settings.suspect_threshold);
    return Number.isFinite(t) && t > 0 ? t : 0.5;
  }

  /** A score bar's tone: the verdict's colour, except a pass scored at or above the suspect
   * threshold (relayed by an allow entry, or a high score without corroboration), which gets
   * the warning tone, never the pass green (docs/dashboard.md, "Score bars"). */
  function scoreTone(c) {
    const v = VERDICTS.includes(c.verdict) ? c.verdict : 'unknown';
    return v === 'pass' && Number(c.score) >= suspectAt() ? 'warn' : v;
  }

  function scoreBar(c) {
    const score = Math.max(0, Math.min(1, Number(c.score) || 0));
    const tone = scoreTone(c);
    return h('span', { class: 'scorebar', 'aria-hidden': 'true' },
      h('span', { class: `scorefill tone-${tone}`, testid: 'score-fill', dataset: { tone },
                  style: { width: `${(score * 100).toFixed(0)}%` } }));
  }

  function outcomeText(o) {
    if (o === null || o === undefined || o === '') return '';
    if (typeof o === 'object') {
      const d = o.duration !== null && o.duration !== undefined && o.duration !== '' ? ` · ${fmtNum(o.duration)} s` : '';
      return `${o.status ?? '?'}${d}`;
    }
    return String(o);
  }

  function renderCalls() {
    const sig = JSON.stringify([state.items, state.cursor, state.detail && state.detail.call, suspectAt()]);
    if (sig === state.rendered) return;
    state.rendered = sig;
    const rows = state.items.map((c) => {
      const reasons = splitList(c.reasons).filter((r) => r !== c.rule);
      return h('tr', {
        class: state.detail && state.detail.call === c.call ? 'selected' : null,
        dataset: { call: c.call, from: c.from || '', ua: c.ua || '' },
        testid: 'call-row',
        tabindex: 0,
        onclick: () => openDetail(c.call),
        onkeydown: (ev) => { if (ev.key === 'Enter') openDetail(c.call); },
      },
        h('td', { class: 'mono nowrap', title: fmtTime(c.ts, true) }, fmtTime(c.ts)),
        h('td', {}, verdictPill(c.verdict)),
        h('td', { class: 'nowrap' }, scoreBar(c), h('span', { class: 'mono' }, fmtScore(c.score))),
        h('td', { class: 'mono', testid: 'call-from' }, c.from || '—'),
        h('td', { class: 'mono' }, c.to || '—'),
        h('td', { class: 'mono' }, c.src || '—'),
        h('td', { class: 'ua', title: c.ua || '', testid: 'call-ua' }, c.ua || h('span', { class: 'muted' }, 'none')),
        h('td', { class: 'reasons' },
          c.rule ? h('span', { class: 'tag tag-rule' }, c.rule) : null,
          reasons.slice(0, 2).map((r) => h('span', { class: 'tag' }, r)),
          reasons.length > 2 ? h('span', { class: 'muted small', title: reasons.slice(2).join(', ') }, ` +${reasons.length - 2}`) : null),
        h('td', { class: 'outcome', testid: 'call-outcome' }, callOutcome(c) || h('span', { class: 'muted' }, '—')),
      );
    });
    $('#calls-body').replaceChildren(...rows);
    $('#calls-empty').hidden = state.items.length > 0;
    $('#load-more').hidden = !state.cursor;
    $('#calls-count').textContent = state.items.length
      ? `${state.items.length} shown${state.cursor ? ', more available' : ''}` : '';
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    applyFilters();
  });
  form.elements.verdict.addEventListener('change', () => applyFilters());
  form.elements.range.addEventListener('change', () => {
    const custom = form.elements.range.value === 'custom';
    for (const el of $$('.custom-range', form)) el.hidden = !custom;
    if (!custom) applyFilters();
  });
  function resetFilters() {
    form.reset();
    for (const el of $$('.custom-range', form)) el.hidden = true;
    applyFilters();
  }
  $('#filter-reset').addEventListener('click', resetFilters);
  $('#load-more').addEventListener('click', () => loadMore());

  /** Click on a "top" entry: filter the table by it. */
  function filterBy(field, value) {
    form.reset();
    form.elements.verdict.value = 'all';
    form.elements[field].value = value;
    applyFilters();
  }

  // ------------------------------------------------------------------ call detail
  function closeDetail() {
    state.detail = null;
    $('#detail').hidden = true;
    $('#scrim').hidden = true;
    state.rendered = '';
    if (state.token) renderCalls();
  }
  $('#detail-close').addEventListener('click', closeDetail);
  $('#scrim').addEventListener('click', closeDetail);
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !$('#detail').hidden) closeDetail(); });

  async function openDetail(call) {
    state.detail = { call };
    state.rendered = '';
    renderCalls();
    $('#detail').hidden = false;
    $('#scrim').hidden = false;
    $('#detail-title').textContent = call;
    $('#detail-verdict').replaceChildren();
    $('#detail-sub').textContent = 'loading…';
    $('#detail-body').replaceChildren();
    try {
      const d = await api('GET', `/calls/${encodeURIComponent(call)}`);
      if (!state.detail || state.detail.call !== call) return;
      state.detail = d;
      renderDetail(d);
    } catch (err) {
      $('#detail-sub').textContent = '';
      $('#detail-body').replaceChildren(h('p', { class: 'error' }, err.message));
    }
  }

  function kv(label, value, cls) {
    return [h('dt', {}, label), h('dd', { class: cls || null }, value === '' || value === null || value === undefined ? '—' : value)];
  }

  function renderDetail(d) {
    $('#detail-verdict').replaceChildren(verdictPill(d.verdict));
    $('#detail-title').textContent = d.from ? `from ${d.from}` : d.call;
    $('#detail-sub').textContent = `${fmtTime(d.ts, true)} · call ${d.call}`;
    const reasons = splitList(d.reasons);
    const summary = h('dl', { class: 'kv', testid: 'detail-summary' },
      kv('Score', h('span', { class: 'nowrap' }, scoreBar(d), h('b', { class: 'mono' }, fmtScore(d.score)))),
      kv('Action', `${d.action || '—'}${d.mode ? ` (${d.mode} mode)` : ''}`),
      kv('Rule', d.rule ? h('span', { class: 'tag tag-rule' }, d.rule) : '—'),
      kv('Reasons', reasons.length ? reasons.map((r) => reasonTag(r)) : '—'),
      kv('From', d.from, 'mono'),
      kv('To', d.to, 'mono'),
      kv('Source', d.src, 'mono'),
      kv('Transport', d.transport, 'mono'),
      ...(d.tls ? [
        kv('TLS', `${d.tls.version} · ${d.tls.cipher}`, 'mono wrap'),
        kv('TLS SNI', d.tls.sni || 'none sent', 'mono wrap'),
        kv('Client certificate', d.tls.client_cert ? 'presented' : 'none'),
      ] : []),
      kv('User agent', d.ua, 'mono wrap'),
      kv('Call-ID', d.call_id, 'mono wrap'),
      kv('Outcome', callOutcome(d) || 'no outcome (not relayed, or still running)', 'mono'),
    );

    const fb = feedbackBox(d);
    const why = whyList(d.why || []);
    const feats = featuresTable(d.features || {}, d.explanation || []);
    $('#detail-body').replaceChildren(
      fb,
      h('h3', {}, 'Why'), why,
      h('h3', {}, 'Summary'), summary,
      h('h3', {}, 'Features'), feats,
    );
    applyRole($('#detail'));
    const names = $('#feature-names');
    if (!names.children.length) {
      names.replaceChildren(...Object.keys(d.features || {}).map((f) => h('option', { value: f })));
    }
  }

  function feedbackBox(d) {
    const confirm = h('p', { class: 'ok', role: 'status', testid: 'feedback-confirm', hidden: true });
    const error = h('p', { class: 'error', role: 'alert', testid: 'feedback-error', hidden: true });
    const buttons = [];
    const send = async (label, allowlist, btn) => {
      for (const b of buttons) b.disabled = true;
      show(error, '');
      show(confirm, '');
      try {
        const r = await api('POST', `/calls/${encodeURIComponent(d.call)}/feedback`, { label, allowlist });
        let text = label === 'human' ? 'Marked as not a bot.' : 'Marked as a bot.';
        if (r && r.allowlisted) {
          const type = { caller: 'caller', number: 'caller', numbers: 'caller', source: 'source',
                         cidr: 'source', cidrs: 'source' }[r.allowlisted.type] || r.allowlisted.type;
          text += ` Allowlisted ${type} ${r.allowlisted.value}: their next calls go through.`;
        }
        if (r && r.version !== undefined && r.version !== null) text += ` (policy version ${r.version})`;
        show(confirm, `✓ ${text}`);
        btn.classList.add('done');
        state.lists = null; // the lists changed: reload them when the policy view opens
      } catch (err) {
        if (err.status !== 401) show(error, err.message);
      } finally {
        for (const b of buttons) b.disabled = !isAdmin() || b.hasAttribute('data-stuck');
      }
    };
    const mk = (text, testid, cls, label, allowlist, title, stuck) => {
      const b = h('button', { type: 'button', class: `btn btn-sm admin-only ${cls}`, testid, title, 'data-stuck': stuck });
      b.textContent = text;
      b.addEventListener('click', () => send(label, allowlist, b));
      buttons.push(b);
      return b;
    };
    return h('div', { class: 'feedback', testid: 'feedback' },
      h('div', { class: 'feedback-buttons' },
        mk('Not a bot: allowlist caller', 'feedback-allow-caller', 'btn-good', 'human', 'caller',
           d.from ? `add ${d.from} to the allow list` : 'no caller number on this call', !d.from),
        mk('Not a bot: allowlist source', 'feedback-allow-source', 'btn-good-ghost', 'human', 'source',
           d.src ? `add ${d.src} to the allow list` : 'no source address on this call', !d.src),
        mk('Mark as bot', 'feedback-bot', 'btn-bad', 'bot', null, 'label this call as a bot (training data)'),
      ),
      confirm, error);
  }

  /** A reason code: a button that lists the calls with the same reason. */
  function reasonTag(code, testid) {
    return h('button', {
      type: 'button', class: 'tag tag-link', testid: testid || 'reason-tag', title: `show the calls with reason ${code}`,
      onclick: () => { closeDetail(); filterBy('reason', code); },
    }, code);
  }

  /** The reasons in words (the API renders them from the logged codes and values): the rule,
   * then what pushed the score towards "bot", with the size of the push as a bar. */
  function whyList(why) {
    const rows = why.filter((r) => r && r.text !== undefined);
    if (!rows.length) return h('p', { class: 'muted', testid: 'why-none' }, 'No reasons: the score was low and no rule matched.');
    const max = Math.max(...rows.map((r) => Math.abs(Number(r.weight) || 0)), 1e-9);
    return h('ul', { class: 'why', testid: 'why' }, rows.map((r) => {
      const weighted = r.weight !== null && r.weight !== undefined;
      const c = Number(r.weight) || 0;
      return h('li', { class: 'why-row', testid: 'why-row', dataset: { code: r.code } },
        h('span', { class: 'why-text', testid: 'why-text' }, r.text),
        weighted
          ? h('span', { class: 'why-push', title: `log-odds ${c > 0 ? '+' : ''}${c.toFixed(3)}` },
            h('span', { class: 'why-track', 'aria-hidden': 'true' },
              h('span', { class: `why-bar ${c < 0 ? 'neg' : 'pos'}`, style: { width: `${(Math.abs(c) / max * 100).toFixed(1)}%` } })),
            h('span', { class: `why-val mono ${c < 0 ? 'neg' : 'pos'}` }, c < 0 ? 'towards human' : 'towards bot'))
          : h('span', { class: 'why-push muted small' }, 'rule'),
        reasonTag(r.code, 'why-code'));
    }));
  }

  function featuresTable(features, expl) {
    const names = Object.keys(features);
    if (!names.length) return h('p', { class: 'muted' }, 'No features recorded.');
    const top = new Set(expl.map((e) => (Array.isArray(e) ? e[0] : e.feature)));
    const hide = h('input', { type: 'checkbox', checked: true, testid: 'features-hide-zero' });
    const body = h('tbody');
    const fill = () => {
      body.replaceChildren(...names
        .filter((n) => !hide.checked || Number(features[n]) !== 0 || top.has(n))
        .map((n) => h('tr', { class: top.has(n) ? 'hl' : null },
          h('td', { class: 'mono' }, n), h('td', { class: 'mono num' }, fmtNum(features[n])))));
    };
    hide.addEventListener('change', fill);
    fill();
    return h('div', {},
      h('label', { class: 'check small' }, hide, ' hide zero values'),
      h('table', { class: 'features', testid: 'features-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Feature'), h('th', { class: 'num' }, 'Value'))), body));
  }

  // ------------------------------------------------------------------ stats chart
  const COLORS = { pass: 'var(--pass)', suspect: 'var(--suspect)', reject: 'var(--reject)', drop: 'var(--drop)' };

  for (const b of $$('.seg-btn')) {
    b.addEventListener('click', () => {
      state.bucket = b.dataset.bucket;
      loadStats(true);
    });
  }

  async function loadStats(force) {
    if (state.inflight.stats && !force) return;
    state.inflight.stats = true;
    for (const b of $$('.seg-btn')) b.setAttribute('aria-pressed', String(b.dataset.bucket === state.bucket));
    const bucket = state.bucket;
    try {
      const st = await api('GET', `/stats?bucket=${bucket}&span=${SPAN[bucket]}`);
      if (bucket !== state.bucket) return;
      renderChart(st.series || [], bucket);
      renderTops(st.top || {});
      $('#chart-span').textContent = bucket === 'minute' ? 'last 60 minutes, per minute' : `last ${SPAN.hour} hours, per hour`;
    } catch (err) {
      if (err.status !== 401) $('#chart').replaceChildren(h('p', { class: 'error' }, err.message));
    } finally {
      state.inflight.stats = false;
    }
  }

  /** The y axis top: 4 ticks of a round whole step (1, 2, 3, 4, 5, 6 or 8 times a power of ten). */
  function niceMax(v) {
    const raw = Math.max(1, v / 4);
    const p = 10 ** Math.floor(Math.log10(raw));
    const m = [1, 2, 3, 4, 5, 6, 8, 10].find((x) => x * p >= raw);
    return 4 * m * p;
  }

  function renderChart(series, bucket) {
    const W = 720, H = 300, L = 36, R = 6, T = 10, B = 24;
    const n = Math.max(series.length, 1);
    const iw = W - L - R, ih = H - T - B;
    const totals = series.map((p) => VERDICTS.reduce((a, v) => a + (Number(p[v]) || 0), 0));
    const ymax = niceMax(Math.max(0, ...totals));
    const y = (v) => T + ih - (v / ymax) * ih;
    const slot = iw / n;
    const bw = Math.max(1, slot * 0.72);
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img',
                           'aria-label': 'calls per verdict over time', 'data-testid': 'stats-svg' });
    // grid and y labels
    for (let i = 0; i <= 4; i++) {
      const v = (ymax / 4) * i;
      svg.append(
        s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: i ? 'grid' : 'axis' }),
        s('text', { x: L - 6, y: y(v) + 4, class: 'tick', 'text-anchor': 'end' }, fmtNum(v)));
    }
    // stacked bars: pass at the bottom, then suspect, reject, drop
    series.forEach((p, i) => {
      const x = L + i * slot + (slot - bw) / 2;
      let base = 0;
      const g = s('g', { class: 'bar', 'data-testid': 'chart-bar' });
      const parts = [];
      for (const v of VERDICTS) {
        const c = Number(p[v]) || 0;
        if (!c) continue;
        parts.push(`${v} ${c}`);
        g.append(s('rect', { x: x.toFixed(2), y: y(base + c).toFixed(2), width: bw.toFixed(2),
                             height: Math.max(0.5, y(base) - y(base + c)).toFixed(2), fill: COLORS[v],
                             class: `seg-${v}` }));
        base += c;
      }
      g.prepend(s('title', {}, `${fmtBucket(p.t, bucket, true)}: ${parts.join(', ') || 'no calls'}`));
      // an invisible full-height hit area for the tooltip
      g.prepend(s('rect', { x: (L + i * slot).toFixed(2), y: T, width: slot.toFixed(2), height: ih, class: 'hit' }));
      svg.append(g);
    });
    // x labels: about 6 of them
    const every = Math.max(1, Math.ceil(n / 6));
    series.forEach((p, i) => {
      if ((n - 1 - i) % every) return;
      const cx = L + i * slot + slot / 2;
      const last = i === n - 1;  // the newest bucket's label ends at the right edge
      svg.append(s('text', { x: (last ? W - R : cx).toFixed(2), y: H - 8, class: 'tick', 'text-anchor': last ? 'end' : 'middle' },
        fmtBucket(p.t, bucket)));
    });
    if (!series.length) {
      svg.append(s('text', { x: W / 2, y: H / 2, class: 'tick', 'text-anchor': 'middle' }, 'no data yet'));
    }
    $('#chart').replaceChildren(svg);
    const sums = Object.fromEntries(VERDICTS.map((v) => [v, series.reduce((a, p) => a + (Number(p[v]) || 0), 0)]));
    $('#chart-legend').replaceChildren(...VERDICTS.map((v) =>
      h('span', { class: 'legend-item', testid: `legend-${v}` },
        h('span', { class: `swatch v-${v}-bg` }), v, h('b', {}, String(sums[v])))));
  }

  function fmtBucket(t, bucket, full) {
    const d = new Date(Number(t) * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (bucket === 'hour' && (full || d.getHours() === 0)) return `${pad(d.getDate())}/${pad(d.getMonth() + 1)} ${hm}`;
    return hm;
  }

  function renderTops(top) {
    const fill = (sel, entries, field) => {
      const list = (entries || []).slice(0, 5);
      const max = Math.max(1, ...list.map((e) => Number(e[1]) || 0));
      $(sel).replaceChildren(...(list.length ? list.map(([value, n]) =>
        h('li', { title: `${value}: ${n} (click to filter the table)`, onclick: () => filterBy(field, value) },
          h('span', { class: 'top-bar', style: { width: `${((Number(n) || 0) / max * 100).toFixed(1)}%` } }),
          h('span', { class: 'top-value mono' }, value || '(none)'),
          h('span', { class: 'top-n' }, String(n)))) : [h('li', { class: 'muted empty-li' }, 'nothing blocked')]));
    };
    fill('#top-sources', top.sources, 'src');
    fill('#top-uas', top.user_agents, 'ua');
    fill('#top-numbers', top.numbers, 'from');
  }

  // ------------------------------------------------------------------ settings (also the mode pill)
  const settingsForm = $('#settings-form');
  // A refresh of the settings never overwrites what the operator is typing: fields edited since
  // the last save keep their value until the form is saved.
  let settingsDirty = false;
  settingsForm.addEventListener('input', () => { settingsDirty = true; });

  async function loadSettings() {
    try {
      const st = await api('GET', '/settings');
      state.settings = st;
      renderSettings(st);
    } catch (err) {
      if (err.status !== 401) show($('#settings-error'), err.message);
    }
  }

  function renderSettings(st, saved = false) {
    const pill = $('#mode-pill');
    pill.textContent = st.mode === 'monitor' ? 'monitor mode' : 'enforcing';
    pill.className = `pill pill-mode mode-${st.mode}`;
    if (saved) settingsDirty = false;
    if (settingsDirty) return;
    for (const key of ['mode', 'deny_action', 'suspect_threshold', 'reject_threshold', 'corroboration', 'reject_status']) {
      if (st[key] !== undefined && st[key] !== null) settingsForm.elements[key].value = st[key];
    }
    $('#settings-version').textContent = st.version !== undefined ? `policy version ${st.version}` : '';
  }

  settingsForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    show($('#settings-error'), '');
    show($('#settings-ok'), '');
    const el = settingsForm.elements;
    const body = {
      mode: el.mode.value,
      deny_action: el.deny_action.value,
      suspect_threshold: Number(el.suspect_threshold.value),
      reject_threshold: Number(el.reject_threshold.value),
      corroboration: Number(el.corroboration.value),
      reject_status: Number(el.reject_status.value),
    };
    try {
      const st = await api('PATCH', '/settings', body);
      if (st && st.mode) {
        state.settings = st;
        renderSettings(st, true);
      } else {
        settingsDirty = false;
        await loadSettings();
      }
      show($('#settings-ok'), `✓ Saved${state.settings && state.settings.version !== undefined ? ` (policy version ${state.settings.version})` : ''}.`);
    } catch (err) {
      if (err.status !== 401) show($('#settings-error'), err.message);
    }
  });

  // ------------------------------------------------------------------ policy view: lists + rules
  async function loadPolicy() {
    await Promise.all([loadSettings(), loadLists(), loadRules()]);
  }

  async function loadLists() {
    try {
      state.lists = await api('GET', '/lists');
      show($('#lists-error'), '');
      renderLists();
    } catch (err) {
      if (err.status !== 401) show($('#lists-error'), err.message);
    }
  }

  function renderLists() {
    const lists = state.lists || {};
    const blocks = [];
    for (const kind of ['allow', 'deny']) {
      const col = h('div', { class: `list-col list-${kind}` },
        h('h3', {}, kind === 'allow' ? 'Allow (always relayed)' : 'Deny (always refused)'));
      for (const [type, label, placeholder] of LIST_TYPES) {
        const values = ((lists[kind] || {})[type]) || [];
        const input = h('input', { placeholder, class: 'admin-only', testid: `list-input-${kind}-${type}`,
                                   'aria-label': `${kind} ${label}` });
        const add = async () => {
          const value = input.value.trim();
          if (!value) return;
          show($('#lists-error'), '');
          try {
            await api('POST', `/lists/${kind}/${type}`, { value });
            input.value = '';
            await loadLists();
            banner(`Added ${value} to the ${kind} list.`, 'ok');
          } catch (err) {
            if (err.status !== 401) show($('#lists-error'), err.message);
          }
        };
        input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); add(); } });
        col.append(h('div', { class: 'list-block', testid: `list-${kind}-${type}` },
          h('div', { class: 'list-label' }, label, h('span', { class: 'muted small' }, ` ${values.length}`)),
          h('div', { class: 'chips' }, values.length ? values.map((v) => h('span', { class: 'chip', testid: 'list-entry', dataset: { value: v } },
            h('span', { class: 'mono' }, v),
            h('button', { type: 'button', class: 'chip-x admin-only', title: `remove ${v}`, 'aria-label': `remove ${v}`,
                          testid: 'list-remove', onclick: () => removeListEntry(kind, type, v) }, '×')))
            : h('span', { class: 'muted small' }, 'empty')),
          h('div', { class: 'list-add' }, input,
            h('button', { type: 'button', class: 'btn btn-ghost btn-sm admin-only', testid: `list-add-${kind}-${type}`,
                          onclick: add }, 'Add'))));
      }
      blocks.push(col);
    }
    $('#lists').replaceChildren(...blocks);
    applyRole($('#lists'));
  }

  async function removeListEntry(kind, type, value) {
    show($('#lists-error'), '');
    try {
      await api('DELETE', `/lists/${kind}/${type}?value=${encodeURIComponent(value)}`);
      await loadLists();
      banner(`Removed ${value} from the ${kind} list.`, 'ok');
    } catch (err) {
      if (err.status !== 401) show($('#lists-error'), err.message);
    }
  }

  async function loadRules() {
    try {
      const r = await api('GET', '/rules');
      state.rules = r.rules || [];
      show($('#rules-error'), '');
      renderRules();
    } catch (err) {
      if (err.status !== 401) show($('#rules-error'), err.message);
    }
  }

  function ruleMatches(r) {
    const parts = [];
    const list = (label, xs) => { if (xs && xs.length) parts.push(`${label} ${xs.join(', ')}`); };
    list('src', r.cidrs);
    list('from', r.from_prefixes);
    list('to', r.to_prefixes);
    if (r.ua_pattern) parts.push(`UA ~ /${r.ua_pattern}/`);
    list('over', r.transports);
    if (r.tls_sni) parts.push(`SNI ${r.tls_sni}`);
    if (r.tls_client_cert !== null && r.tls_client_cert !== undefined) {
      parts.push(r.tls_client_cert ? 'client cert' : 'no client cert');
    }
    if (r.min_score !== null && r.min_score !== undefined) parts.push(`score ≥ ${r.min_score}`);
    if (r.feature) parts.push(`${r.feature} ≥ ${r.feature_min ?? 0}`);
    return parts.length ? parts.map((p) => h('span', { class: 'tag mono' }, p)) : h('span', { class: 'muted' }, 'every call');
  }

  function renderRules() {
    const rules = state.rules;
    const rows = rules.map((r, i) => {
      const toggle = h('input', { type: 'checkbox', class: 'admin-only', testid: 'rule-enable',
                                  'aria-label': `enable ${r.id}`, checked: r.enabled !== false });
      toggle.addEventListener('change', () => ruleWrite('PATCH', `/rules/${encodeURIComponent(r.id)}`, { enabled: toggle.checked },
        `Rule ${r.id} ${toggle.checked ? 'enabled' : 'disabled'}.`));
      const del = h('button', { type: 'button', class: 'btn btn-ghost btn-sm btn-danger-text admin-only', testid: 'rule-delete' }, 'Delete');
      del.addEventListener('click', () => {
        if (del.dataset.armed) {
          ruleWrite('DELETE', `/rules/${encodeURIComponent(r.id)}`, undefined, `Rule ${r.id} deleted.`);
          return;
        }
        del.dataset.armed = '1';
        del.textContent = 'Confirm?';
        setTimeout(() => { delete del.dataset.armed; del.textContent = 'Delete'; }, 3000);
      });
      return h('tr', { testid: 'rule-row', dataset: { id: r.id }, class: r.enabled === false ? 'disabled' : null },
        h('td', { class: 'nowrap' },
          h('button', { type: 'button', class: 'icon-btn admin-only', testid: 'rule-up', title: 'move up',
                        'data-stuck': i === 0, onclick: () => moveRule(i, -1) }, '▲'),
          h('button', { type: 'button', class: 'icon-btn admin-only', testid: 'rule-down', title: 'move down',
                        'data-stuck': i === rules.length - 1, onclick: () => moveRule(i, 1) }, '▼')),
        h('td', {}, toggle),
        h('td', { class: 'mono' }, r.id),
        h('td', {}, h('span', { class: `tag phase-${r.phase}` }, r.phase)),
        h('td', {}, h('span', { class: `pill v-${{ relay: 'pass' }[r.action] || r.action}` }, r.action)),
        h('td', { class: 'matches' }, ruleMatches(r)),
        h('td', {}, r.action === 'reject' ? `${r.status || ''} ` : '', h('span', { class: 'muted' }, r.reason || '')),
        h('td', { class: 'nowrap' }, del));
    });
    $('#rules-body').replaceChildren(...rows);
    $('#rules-empty').hidden = rules.length > 0;
    applyRole($('#view-policy'));
  }

  async function ruleWrite(method, path, body, okText) {
    show($('#rules-error'), '');
    try {
      await api(method, path, body);
      banner(okText, 'ok');
    } catch (err) {
      if (err.status !== 401) show($('#rules-error'), err.message);
    }
    await loadRules();
  }

  function moveRule(i, delta) {
    const ids = state.rules.map((r) => r.id);
    const j = i + delta;
    if (j < 0 || j >= ids.length) return;
    [ids[i], ids[j]] = [ids[j], ids[i]];
    ruleWrite('PUT', '/rules/order', { ids }, 'Rule order saved.');
  }

  /** The new-rule form as a rule object (empty fields left out, so the API's defaults apply). */
  function ruleFromForm() {
    const el = $('#rule-form').elements;
    const r = { phase: el.phase.value, action: el.action.value, enabled: el.enabled.checked };
    if (el.id.value.trim()) r.id = el.id.value.trim();
    for (const key of ['cidrs', 'from_prefixes', 'to_prefixes', 'transports']) {
      const xs = splitList(el[key].value);
      if (xs.length) r[key] = xs;
    }
    if (el.tls_client_cert.value) r.tls_client_cert = el.tls_client_cert.value === 'true';
    for (const key of ['ua_pattern', 'tls_sni', 'feature', 'reason']) {
      if (el[key].value.trim()) r[key] = el[key].value.trim();
    }
    for (const key of ['min_score', 'feature_min', 'status']) {
      if (el[key].value !== '') r[key] = Number(el[key].value);
    }
    return r;
  }

  $('#rule-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    show($('#rules-error'), '');
    try {
      const created = await api('POST', '/rules', ruleFromForm());
      $('#rule-form').reset();
      banner(`Rule ${created && created.id ? created.id : ''} created.`, 'ok');
      await loadRules();
    } catch (err) {
      if (err.status !== 401) show($('#rules-error'), err.message);
    }
  });

  $('#rule-dry-run').addEventListener('click', async () => {
    const box = $('#dry-run');
    show($('#rules-error'), '');
    try {
      const r = await api('POST', '/rules/dry-run', { rule: ruleFromForm(), last: 1000 });
      const calls = (r.calls || []).slice(0, 10);
      box.replaceChildren(h('div', {},
        h('p', {}, h('b', {}, `${r.hits} of ${r.checked}`), ' recent calls would match this rule',
          calls.length < r.hits ? ` (the newest ${calls.length} below).` : '.'),
        calls.length ? h('table', { class: 'mini' },
          h('tbody', {}, calls.map((c) => h('tr', {},
            h('td', { class: 'mono' }, fmtTime(c.ts)), h('td', {}, verdictPill(c.verdict)),
            h('td', { class: 'mono' }, c.from || ''), h('td', { class: 'mono' }, c.src || ''),
            h('td', { class: 'ua' }, c.ua || ''))))) : null));
      box.hidden = false;
    } catch (err) {
      box.hidden = true;
      if (err.status !== 401) show($('#rules-error'), err.message);
    }
  });

  // ------------------------------------------------------------------ model card
  /** How many features the bar chart shows (the model uses more; the card lists them all). */
  const TOP_FEATURES = 15;
  const isNum = (x) => x !== null && x !== undefined && x !== '' && Number.isFinite(Number(x));
  const pct = (x, digits = 2) => (isNum(x) ? `${(Number(x) * 100).toFixed(digits)}%` : 'n/a');
  const fixed = (x, digits) => (isNum(x) ? Number(x).toFixed(digits) : 'n/a');
  const count = (x) => (isNum(x) ? Number(x).toLocaleString('en') : '—');
  const hours = (s) => (isNum(s) ? `${fmtNum(Number(s) / 3600)} h` : '—');
  const utc = (t) => (isNum(t) ? `${new Date(Number(t) * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—');

  /** A table of figures: ``head`` is [[label, numeric?], ...], ``rows`` lists of cells (text or nodes). */
  function figures(testid, head, rows) {
    return h('div', { class: 'table-wrap' }, h('table', { class: 'report', testid },
      h('thead', {}, h('tr', {}, head.map(([label, num]) => h('th', { class: num ? 'num' : null }, label)))),
      h('tbody', {}, rows.map((cells) => h('tr', {},
        cells.map((c, i) => h('td', { class: head[i][1] ? 'num mono' : null }, c)))))));
  }

  function targetCell(tg) {
    if (!tg) return h('span', { class: 'muted' }, 'report only');
    const cmp = String(tg.metric || '').startsWith('FPR') ? '≤' : '≥';
    return h('span', { class: tg.met ? 'tgt tgt-met' : 'tgt tgt-missed' }, `${cmp} ${pct(tg.goal, 1)}: ${tg.met ? 'met' : 'missed'}`);
  }

  /** The held-out groups: from the evaluation report, else from the card's metrics. */
  function heldOut(card, report) {
    if (report && Array.isArray(report.held_out)) {
      return report.held_out.concat((report.held_out_families || []).map((x) => ({ ...x, kind: 'family' })));
    }
    const m = card.metrics || {};
    const rows = (card.evaluation_data || {}).by_profile || {};
    const fams = (card.evaluation_data || {}).by_family || {};
    const kind = (x) => (x.target && String(x.target.metric).startsWith('FPR') ? 'legitimate' : 'attack');
    return Object.entries(m.held_out || {}).map(([name, x]) => ({ ...x, held_out: name, kind: kind(x), held_out_rows: rows[name] }))
      .concat(Object.entries(m.held_out_families || {}).map(([name, x]) => ({ ...x, held_out: name, kind: 'family', held_out_rows: fams[name] })));
  }

  function modelHead(card, report) {
    const m = card.model || {};
    const met = report && report.targets_met !== undefined ? report.targets_met : (card.metrics || {}).targets_met;
    return h('div', { class: 'card', testid: 'model-head' },
      h('div', { class: 'card-head' },
        h('div', {}, h('h2', {}, card.name || 'Model'), h('span', { class: 'muted small mono' }, card.version || '')),
        met === undefined ? null
          : h('span', { class: `pill ${met ? 'v-pass' : 'v-suspect'}`, testid: 'targets-met' }, met ? 'all targets met' : 'some targets missed')),
      card.description ? h('p', { class: 'lead' }, card.description) : null,
      h('dl', { class: 'kv kv-cols', testid: 'model-facts' },
        kv('Created', card.created), kv('Evaluated', card.evaluated),
        kv('Model', m.trees !== undefined ? `${m.trees} trees, depth ${m.max_depth}, ${count(m.nodes)} nodes, rate ${m.rate}` : ''),
        kv('Features', Array.isArray(card.features) ? `${card.features.length}` : ''),
        kv('Trained with', card.command, 'mono wrap'),
        kv('Libraries', card.libraries ? Object.entries(card.libraries).map(([k, v]) => `${k} ${v}`).join(', ') : ''),
        kv('Format', card.format), kv('SHA-256', card.sha256 ? `${String(card.sha256).slice(0, 16)}…` : '', 'mono')),
      card.limitations ? h('p', { class: 'note' }, h('b', {}, 'Limitations. '), card.limitations) : null);
  }

  function trainingData(card) {
    const tr = card.training_data || {};
    const ev = card.evaluation_data || {};
    const fit = tr.fit_rows || {};
    const sim = (d) => d.simulation || {};
    const bots = (d) => (d.by_label || {})['1'];
    const families = [...new Set([...Object.keys(tr.by_family || {}), ...Object.keys(ev.by_family || {})])];
    return h('div', { class: 'card', testid: 'model-training' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Training data'),
        h('span', { class: 'muted small' }, 'simulated traffic replayed through the real feature pipeline')),
      figures('training-table', [[''], ['training', 1], ['evaluation', 1]], [
        ['simulation seed', String(sim(tr).seed ?? '—'), String(sim(ev).seed ?? '—')],
        ['simulated time', hours(sim(tr).duration), hours(sim(ev).duration)],
        ['scale', String(sim(tr).scale ?? '—'), String(sim(ev).scale ?? '—')],
        ['starts at', utc(sim(tr).start), utc(sim(ev).start)],
        ['profiles', String(sim(tr).profiles ?? '—'), String(sim(ev).profiles ?? '—')],
        ['calls (INVITEs)', count(tr.rows), count(ev.rows)],
        ['of them bots', count(bots(tr)), count(bots(ev))],
        [`fitted on${fit.note ? ` (${fit.note})` : ''}`, count(fit.rows), '—'],
      ]),
      families.length ? [h('h3', {}, 'Calls per family'), figures('family-table',
        [['family'], ['training', 1], ['fitted', 1], ['evaluation', 1]],
        families.map((f) => [f, count((tr.by_family || {})[f]), count((fit.by_family || {})[f]), count((ev.by_family || {})[f])]))] : null);
  }

  function topFeatures(imp) {
    const list = ((imp && imp.features) || []).slice(0, TOP_FEATURES);
    const head = h('div', { class: 'card-head' }, h('h2', {}, 'Top features'),
      h('span', { class: 'muted small' }, imp ? `splits on each feature in the ${imp.trees} trees` : ''));
    if (!list.length) return h('div', { class: 'card' }, head, h('p', { class: 'muted' }, 'The model file could not be read.'));
    const max = Math.max(...list.map((f) => Number(f.splits) || 0), 1);
    return h('div', { class: 'card', testid: 'model-features' }, head,
      h('ol', { class: 'fbars', testid: 'feature-bars' }, list.map((f) => h('li', { class: 'fbar-row', testid: 'feature-bar', dataset: { feature: f.name } },
        h('span', { class: 'fbar-name mono', title: f.name }, f.name),
        h('span', { class: 'fbar-track', 'aria-hidden': 'true' },
          h('span', { class: 'fbar', style: { width: `${((Number(f.splits) || 0) / max * 100).toFixed(1)}%` } })),
        h('span', { class: 'fbar-val mono' }, `${f.splits} · ${pct(f.share, 1)}`)))),
      h('p', { class: 'muted small' }, 'How often the trees split on a feature: a feature used often shapes many scores. ',
        'The reasons in a call\'s detail say which features pushed that call\'s score.'));
  }

  function evaluation(card, report) {
    const m = card.metrics || {};
    const held = heldOut(card, report);
    const th = (report && report.thresholds) || m.thresholds || {};
    const corr = report ? report.corroboration : m.corroboration;
    const name = (x) => (x.kind === 'family' ? `family ${x.held_out}${x.profiles ? ` (${x.profiles.join(', ')})` : ''}` : x.held_out);
    const g = (x, k) => x[k] || {};
    const overall = (report && report.overall) || m.overall;
    const never = (report && report.overall_held_out) || m.overall_held_out;
    const tr = card.training_data || {};
    const ev = card.evaluation_data || {};
    const byProfile = (overall && overall.by_profile) || {};
    const profiles = Object.keys(ev.by_profile || byProfile);
    return h('div', { class: 'card', testid: 'model-evaluation' },
      h('div', { class: 'card-head' }, h('h2', {}, 'Evaluation'),
        h('span', { class: 'muted small' }, `thresholds suspect ${th.suspect ?? '?'} / reject ${th.reject ?? '?'}, corroboration ${corr ?? '?'}`)),
      h('p', { class: 'muted small' }, 'Each held-out row is scored by a model trained without its profile (or family), on a separate ',
        'evaluation simulation, through the verdict path. Flagged: suspect, reject or drop; blocked: reject or drop.'),
      h('h3', {}, 'Held-out attack profiles and families'),
      figures('heldout-attacks',
        [['held out'], ['calls', 1], ['recall flagged', 1], ['recall blocked', 1], ['precision flagged', 1], ['FPR flagged (people)', 1], ['AUC', 1], ['target']],
        held.filter((x) => x.kind !== 'legitimate').map((x) => [name(x), count(x.held_out_rows), pct(g(x, 'flagged').recall),
          pct(g(x, 'blocked').recall), pct(g(x, 'flagged').precision), pct(g(x, 'flagged').fpr), fixed(x.auc, 5), targetCell(x.target)])),
      h('h3', {}, 'Held-out legitimate profiles'),
      figures('heldout-people',
        [['held out'], ['calls', 1], ['FPR flagged', 1], ['FPR blocked', 1], ['precision flagged', 1], ['recall flagged (all attacks)', 1], ['AUC', 1], ['target']],
        held.filter((x) => x.kind === 'legitimate').map((x) => [name(x), count(x.held_out_rows), pct(g(x, 'flagged').fpr),
          pct(g(x, 'blocked').fpr), pct(g(x, 'flagged').precision), pct(g(x, 'flagged').recall), fixed(x.auc, 5), targetCell(x.target)])),
      h('h3', {}, 'Overall'),
      figures('overall-table',
        [['scored by'], ['precision flagged', 1], ['recall flagged', 1], ['FPR flagged', 1], ['precision blocked', 1], ['recall blocked', 1], ['FPR blocked', 1], ['AUC', 1]],
        [['shipped model', overall], ['model that never saw the profile', never]].filter(([, o]) => o).map(([label, o]) => [label,
          pct(g(o, 'flagged').precision), pct(g(o, 'flagged').recall), pct(g(o, 'flagged').fpr),
          pct(g(o, 'blocked').precision), pct(g(o, 'blocked').recall), pct(g(o, 'blocked').fpr), fixed(o.auc, 5)])),
      profiles.length ? [h('h3', {}, 'Per profile: calls, and the shipped model on the evaluation simulation'), figures('profile-table',
        [['profile'], ['kind'], ['training calls', 1], ['fitted', 1], ['evaluation calls', 1], ['flagged', 1], ['blocked', 1], ['mean score', 1]],
        profiles.map((p) => {
          const s = byProfile[p] || {};
          const kind = s.label === undefined ? '' : h('span', { class: `tag ${s.label ? 'phase-deny' : 'phase-allow'}` }, s.label ? 'bots' : 'people');
          return [h('span', { class: 'mono' }, p), kind, count((tr.by_profile || {})[p]), count(((tr.fit_rows || {}).by_profile || {})[p]),
            count((ev.by_profile || {})[p]), pct(s.flagged), pct(s.blocked), fixed(s.mean_score, 3)];
        }))] : null);
  }

  /** A shipped plot, fetched with the token (an <img src> could not send it) and shown as a data: URL. */
  async function plot(name, title) {
    try {
      const res = await fetch(`${API}/model/plots/${name}`, { headers: { Authorization: `Bearer ${state.token}` }, cache: 'no-store' });
      const blob = res.ok ? await res.blob() : null;
      if (!blob || blob.type !== 'image/png') return h('p', { class: 'muted', testid: `plot-${name}-missing` }, `No ${title} plot shipped with this model.`);
      const url = await new Promise((resolve, reject) => {
        const r = new FileReader();
        r.onload = () => resolve(r.result);
        r.onerror = () => reject(r.error);
        r.readAsDataURL(blob);
      });
      return h('figure', { class: 'plot' }, h('img', { src: url, alt: `${title} curves of the model`, testid: `plot-${name}` }),
        h('figcaption', { class: 'muted small' }, title));
    } catch (err) {
      return h('p', { class: 'error' }, `${title} plot: ${err.message}`);
    }
  }

  async function loadModel() {
    const box = $('#model');
    const optional = (path) => api('GET', path).catch((err) => { if (err.status === 401) throw err; return null; });
    try {
      const [card, report, imp, roc, pr] = await Promise.all([
        api('GET', '/model'), optional('/model/report'), optional('/model/importance'),
        plot('roc', 'ROC (recall against false-positive rate)'), plot('pr', 'Precision and recall'),
      ]);
      box.replaceChildren(
        modelHead(card, report),
        h('div', { class: 'grid-2 grid-model' }, trainingData(card), topFeatures(imp)),
        evaluation(card, report),
        h('div', { class: 'card', testid: 'model-plots' }, h('div', { class: 'card-head' }, h('h2', {}, 'ROC and PR curves'),
          h('span', { class: 'muted small' }, 'one curve per held-out profile; written by antibot train')),
        h('div', { class: 'plots' }, roc, pr)),
        h('details', { class: 'card raw', testid: 'model-raw' }, h('summary', {}, 'Raw card (JSON)'),
          h('pre', { class: 'json' }, JSON.stringify(card, null, 2))));
      const feats = card && (card.features || card.feature_names);
      if (Array.isArray(feats)) {
        $('#feature-names').replaceChildren(...feats.map((f) => h('option', { value: typeof f === 'string' ? f : f.name })));
      }
    } catch (err) {
      if (err.status === 404) box.replaceChildren(h('p', { class: 'card muted' }, `No model card (${err.message.replace(/^Not found: /, '')}).`));
      else if (err.status !== 401) box.replaceChildren(h('p', { class: 'error' }, err.message));
    }
  }

  // ------------------------------------------------------------------ start
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    signIn(saved).catch(() => signOut('Your saved token was refused. Sign in again.'));
  } else {
    signOut();
  }
})();
