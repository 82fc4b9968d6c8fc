// promptd web UI: a small hand-written layer over the JSON API (no framework, no build step).
// The session cookie is HttpOnly; state-changing requests send the page's CSRF token in the
// X-CSRF-Token header. Text from the server is always set with textContent, never as HTML.
'use strict';
(function () {
  const $ = (s, root) => (root || document).querySelector(s);
  const csrf = () => { const m = $('meta[name="csrf-token"]'); return m ? m.content : ''; };
  const pageData = () => { const d = $('#page-data'); return d ? JSON.parse(d.textContent) : null; };
  const enc = encodeURIComponent;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  async function api(method, path, body, headers) {
    const h = Object.assign({ Accept: 'application/json' }, headers || {});
    if (method !== 'GET') h['X-CSRF-Token'] = csrf();
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const r = await fetch(path, {
      method, headers: h, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 401) { location.assign('/ui/login?expired=1'); throw new Error('signed out'); }
    const text = await r.text();
    let json; try { json = JSON.parse(text); } catch (_) { json = text; }
    return { status: r.status, ok: r.ok, body: json, headers: r.headers };
  }

  function detail(b) {
    if (b && typeof b === 'object') {
      if (typeof b.detail === 'string') return b.detail;
      if (Array.isArray(b.detail)) return b.detail.map(d => (d.loc || []).join('.') + ': ' + d.msg).join('; ');
      if (b.error && b.error.message) return b.error.message;
    }
    return String(b);
  }

  function say(target, text, kind) {
    const t = typeof target === 'string' ? $(target) : target;
    if (!t) return;
    t.textContent = text;
    t.className = kind || '';
  }

  function debounce(fn, ms) {
    let t = null;
    return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  }

  // ---- variables forms (edit and playground) ----
  function varInput(f, old) {
    const id = 'var-' + f.name;
    const label = el('label', { for: id }, f.name, ' ', el('small', {}, f.type + (f.required ? ', required' : '')));
    let input;
    if (f.type === 'boolean') {
      input = el('input', { id, type: 'checkbox', 'data-var': f.name, 'data-type': f.type });
      if (old === true) input.checked = true;
    } else if (f.type === 'array' || f.type === 'object') {
      input = el('textarea', { id, rows: 2, 'data-var': f.name, 'data-type': f.type, placeholder: f.type === 'array' ? '["a", "b"]' : '{"k": "v"}' });
      if (old !== undefined) input.value = JSON.stringify(old);
    } else {
      const numeric = ['integer', 'number', 'float'].includes(f.type);
      input = el('input', { id, type: numeric ? 'number' : 'text', step: numeric ? 'any' : null, 'data-var': f.name, 'data-type': f.type });
      if (old !== undefined) input.value = String(old);
    }
    return [label, input];
  }

  function readVars(form) {
    const out = {};
    if (!form) return out;
    for (const i of form.querySelectorAll('[data-var]')) {
      const t = i.dataset.type, n = i.dataset.var;
      if (t === 'boolean') { out[n] = i.checked; continue; }
      if (i.value === '') continue;
      if (t === 'integer' || t === 'number' || t === 'float') { const x = Number(i.value); out[n] = Number.isNaN(x) ? i.value : x; continue; }
      if (t === 'array' || t === 'object') { try { out[n] = JSON.parse(i.value); } catch (_) { out[n] = i.value; } continue; }
      out[n] = i.value;
    }
    return out;
  }

  function messagesView(messages) {
    return messages.map(m => el('div', { class: 'msg role-' + m.role },
      el('div', { class: 'msg-role' }, m.role), el('pre', {}, m.content)));
  }

  // ---- side-by-side diff ----
  function sideBySide(unified) {
    const rows = [];
    let dels = [], adds = [];
    const flush = () => {
      const n = Math.max(dels.length, adds.length);
      for (let i = 0; i < n; i++) rows.push([dels[i], adds[i], dels[i] !== undefined ? 'del' : '', adds[i] !== undefined ? 'add' : '']);
      dels = []; adds = [];
    };
    for (const line of unified.split('\n')) {
      if (line.startsWith('---') || line.startsWith('+++') || line.startsWith('\\') || line === '') continue;
      if (line.startsWith('@@')) { flush(); rows.push([line, line, 'hunk', 'hunk']); continue; }
      if (line.startsWith('-')) { dels.push(line.slice(1)); continue; }
      if (line.startsWith('+')) { adds.push(line.slice(1)); continue; }
      flush();
      const t = line.startsWith(' ') ? line.slice(1) : line;
      rows.push([t, t, '', '']);
    }
    flush();
    return rows;
  }

  function renderDiff(box, d) {
    box.replaceChildren();
    if (d.identical) { box.append(el('p', { class: 'identical' }, d.from + ' and ' + d.to + ' are identical.')); return; }
    const rows = sideBySide(d.template || '');
    const table = el('table', { class: 'diff', id: 'diff-table' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, d.from), el('th', { scope: 'col' }, d.to))),
      el('tbody', {}, rows.map(([l, r, lc, rc]) => el('tr', {},
        el('td', { class: lc }, l === undefined ? '' : l), el('td', { class: rc }, r === undefined ? '' : r)))));
    if (rows.length) box.append(el('div', { class: 'scroll' }, table));
    else box.append(el('p', { class: 'muted' }, 'The template text is the same.'));
    const facts = el('ul', { class: 'facts', id: 'diff-facts' });
    if (d.model && d.model.changed) facts.append(el('li', {}, 'model: ' + (d.model.from || 'none') + ' → ' + (d.model.to || 'none')));
    const p = d.parameters || {};
    for (const [k, v] of Object.entries(p.added || {})) facts.append(el('li', {}, 'parameter ' + k + ' added: ' + JSON.stringify(v)));
    for (const [k, v] of Object.entries(p.removed || {})) facts.append(el('li', {}, 'parameter ' + k + ' removed (was ' + JSON.stringify(v) + ')'));
    for (const [k, v] of Object.entries(p.changed || {})) facts.append(el('li', {}, 'parameter ' + k + ': ' + JSON.stringify(v.from) + ' → ' + JSON.stringify(v.to)));
    const vars = d.variables || {};
    for (const n of vars.added || []) facts.append(el('li', {}, 'variable ' + n + ' added'));
    for (const n of vars.removed || []) facts.append(el('li', {}, 'variable ' + n + ' removed'));
    if (facts.children.length) box.append(facts);
  }

  async function loadDiff(id, from, to, box) {
    say(box, 'Comparing…', 'muted');
    const r = await api('GET', '/prompts/' + enc(id) + '/diff?from=' + enc(from) + '&to=' + enc(to));
    if (!r.ok) { say(box, detail(r.body), 'error'); return; }
    renderDiff(box, r.body);
  }

  // ---- pages ----
  const pages = {};

  pages.edit = function () {
    const d = pageData();
    const source = $('#source'), form = $('#variables'), preview = $('#preview');
    let etag = d.etag, lastFields = '';
    const idNow = () => d.new ? ($('#new-id').value.trim() || 'new-prompt') : d.id;
    const envNow = () => d.new ? $('#new-env').value : d.environment;

    function buildForm(fields) {
      const key = JSON.stringify(fields);
      if (key === lastFields) return;
      lastFields = key;
      const old = readVars(form);
      form.replaceChildren();
      if (!fields.length) form.append(el('p', { class: 'muted' }, 'No variables declared in input.schema.'));
      for (const f of fields) form.append(...varInput(f, old[f.name]));
    }

    async function refresh() {
      say('#preview-state', 'rendering…', 'muted');
      const r = await api('POST', '/prompts/' + enc(idNow()) + '/preview',
        { dotprompt_content: source.value, prompt_variables: readVars(form) });
      const err = $('#template-error');
      if (!r.ok) { say('#preview-state', '', ''); err.hidden = false; say(err, detail(r.body), 'error'); return; }
      const b = r.body;
      buildForm(b.variables || []);
      if (b.error) {
        err.hidden = false;
        const where = b.error.line ? 'Line ' + b.error.line + (b.error.column ? ', column ' + b.error.column : '') + ': ' : '';
        say(err, where + b.error.message, 'error');
        say('#preview-state', b.error.kind === 'render' ? 'cannot render yet' : 'template error', 'error');
        if (b.error.kind !== 'render') return;
        preview.replaceChildren();
        return;
      }
      err.hidden = true;
      say('#preview-state', (b.model ? b.model + ' · ' : '') + b.messages.length + ' message' + (b.messages.length === 1 ? '' : 's'), 'muted');
      preview.replaceChildren(...messagesView(b.messages));
    }
    const later = debounce(refresh, 250);
    source.addEventListener('input', later);
    form.addEventListener('input', later);
    form.addEventListener('change', later);
    if (d.new) $('#new-id').addEventListener('input', later);
    refresh();

    $('#save-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const message = $('#message').value.trim();
      if (!message) { say('#save-status', 'Say what changed before saving (the message is kept with the version).', 'error'); $('#message').focus(); return; }
      const id = idNow(), env = envNow();
      const body = {
        litellm_params: { prompt_integration: 'dotprompt', dotprompt_content: source.value },
        prompt_info: { prompt_type: 'db', environment: env }, message,
      };
      say('#save-status', 'Saving…', 'muted');
      let r;
      if (d.new) r = await api('POST', '/prompts', Object.assign({ prompt_id: id }, body));
      else r = await api('PUT', '/prompts/' + enc(id), body, etag ? { 'If-Match': etag } : {});
      if (r.status === 412) {
        const info = await api('GET', '/prompts/' + enc(id) + '/info?environment=' + enc(env));
        const spec = info.body && info.body.prompt_spec;
        const box = $('#conflict');
        box.hidden = false;
        say('#conflict-text', 'Someone else saved ' + env + ' after you opened this page (it is now v' + (spec ? spec.version : '?') +
          '). Nothing was overwritten: your text is still in the editor. This is what changed since v' + d.version + ':', '');
        say('#save-status', 'Not saved: someone else saved first.', 'error');
        await loadDiff(id, env + '.v' + d.version, env, $('#conflict-diff'));
        return;
      }
      if (!r.ok) { say('#save-status', detail(r.body), 'error'); return; }
      const saved = r.body;
      const info = await api('GET', '/prompts/' + enc(id) + '/info?environment=' + enc(env));
      etag = info.headers.get('ETag') || etag;
      d.version = saved.version;
      $('#message').value = '';
      $('#conflict').hidden = true;
      const link = el('a', { href: '/ui/prompts/' + enc(id) + '?environment=' + enc(env) }, 'open it');
      const st = $('#save-status');
      st.replaceChildren('Saved ' + id + ' ' + env + ' v' + saved.version + ' — ', link);
      st.className = 'ok';
      if (d.new) { d.new = false; d.id = id; d.environment = env; }
    });
  };

  pages.history = function () {
    const d = pageData();
    const box = $('#diff');
    const compare = () => loadDiff(d.id, $('#diff-from').value, $('#diff-to').value, box);
    $('#diff-form').addEventListener('submit', (ev) => { ev.preventDefault(); compare(); });
    if ($('#diff-from').value) compare();
    const list = $('#timeline'), more = $('#more');
    let cursor = null;
    async function page(first) {
      const r = await api('GET', '/prompts/' + enc(d.id) + '/history?limit=50' + (cursor ? '&cursor=' + enc(cursor) : ''));
      if (first) list.replaceChildren();
      if (!r.ok) { list.append(el('li', { class: 'error' }, detail(r.body))); return; }
      for (const e of r.body.events) {
        list.append(el('li', { class: 'ev ev-' + e.kind },
          el('strong', {}, e.kind), ' ', e.environment + (e.version ? ' v' + e.version : ''),
          e.source ? ' from ' + e.source : '', e.message ? el('q', {}, e.message) : '',
          el('span', { class: 'muted' }, ' · ' + (e.actor || '') + ' · ' + (e.created_at || '').replace('T', ' ').slice(0, 16))));
      }
      if (!r.body.events.length && first) list.append(el('li', { class: 'muted' }, 'No events.'));
      cursor = r.body.next_cursor;
      more.hidden = !cursor;
    }
    more.addEventListener('click', () => page(false));
    page(true);
  };

  pages.release = function () {
    const d = pageData();
    const envs = Object.fromEntries(d.environments.map(e => [e.name, e]));
    const fill = (sel, versions, skipLatest) => {
      sel.replaceChildren(...versions.slice(skipLatest ? 1 : 0).map((v, i) =>
        el('option', { value: v }, 'v' + v + (!skipLatest && i === 0 ? ' (latest)' : ''))));
    };
    const pf = $('#promote-from'), pv = $('#promote-version'), re = $('#rollback-env'), rv = $('#rollback-version');
    const syncPromote = () => { if (pf.value) fill(pv, envs[pf.value].versions, false); };
    const syncRollback = () => { if (re.value) fill(rv, envs[re.value].versions, true); };
    pf.addEventListener('change', syncPromote); re.addEventListener('change', syncRollback);
    syncPromote(); syncRollback();
    const serving = (e) => e.version ? e.name + ' v' + e.version : e.name + ' (nothing yet)';
    let pending = null;
    function ask(text, action) {
      pending = action;
      say('#confirm-text', text, '');
      $('#confirm').hidden = false;
      $('#confirm-yes').focus();
    }
    $('#confirm-no').addEventListener('click', () => { pending = null; $('#confirm').hidden = true; say('#release-status', 'Nothing changed.', 'muted'); });
    $('#confirm-yes').addEventListener('click', async () => {
      const act = pending; pending = null; $('#confirm').hidden = true;
      if (act) await act();
    });
    async function after(envName, r, what) {
      if (r.status === 412) { say('#release-status', envName + ' changed since this page was opened; reload the page to see it, then try again.', 'error'); return; }
      if (!r.ok) { say('#release-status', detail(r.body), 'error'); return; }
      const e = envs[envName];
      const info = await api('GET', '/prompts/' + enc(d.id) + '/info?environment=' + enc(envName));
      if (!e.versions.includes(r.body.version)) e.versions.unshift(r.body.version);
      e.version = r.body.version; e.etag = info.headers.get('ETag') || e.etag;
      say('#release-status', envName + ' now serves v' + r.body.version + ': ' + what + '.', 'ok');
      syncPromote(); syncRollback();
    }
    $('#promote-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const from = pf.value, to = $('#promote-to').value, version = Number(pv.value);
      if (!from || !to) { say('#release-status', 'Pick an environment to copy from and one to promote into.', 'error'); return; }
      const target = envs[to];
      const what = 'a copy of ' + from + ' v' + version;
      ask(serving(target) + ' → ' + what + '. Promote?', async () => {
        const body = { from_environment: from, version, to_environment: to };
        const m = $('#promote-message').value.trim(); if (m) body.message = m;
        const r = await api('POST', '/prompts/' + enc(d.id) + '/promote', body, target.etag ? { 'If-Match': target.etag } : {});
        await after(to, r, what);
      });
    });
    $('#rollback-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const env = re.value, to = Number(rv.value);
      if (!env || !to) { say('#release-status', 'Pick an environment with an earlier version to roll back to.', 'error'); return; }
      const target = envs[env];
      const what = 'a copy of ' + env + ' v' + to;
      ask(serving(target) + ' → ' + what + '. Roll back?', async () => {
        const body = { environment: env, to_version: to };
        const m = $('#rollback-message').value.trim(); if (m) body.message = m;
        const r = await api('POST', '/prompts/' + enc(d.id) + '/rollback', body, target.etag ? { 'If-Match': target.etag } : {});
        await after(env, r, what);
      });
    });
  };

  pages.playground = function () {
    const d = pageData();
    const out = $('#answer'), run = $('#run'), stop = $('#stop');
    let controller = null;
    stop.addEventListener('click', () => { if (controller) controller.abort(); });
    $('#run-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      controller = new AbortController();
      run.disabled = true; stop.disabled = false;
      out.textContent = '';
      say('#run-state', 'running…', 'muted');
      const extra = $('#extra').value.trim();
      const body = {
        model: $('#model').value, stream: true, prompt_id: d.id, prompt_environment: d.environment,
        prompt_variables: readVars($('#variables')), messages: extra ? [{ role: 'user', content: extra }] : [],
      };
      try {
        const r = await fetch('/chat/completions', {
          method: 'POST', credentials: 'same-origin', signal: controller.signal,
          headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', 'X-CSRF-Token': csrf() },
          body: JSON.stringify(body),
        });
        if (!r.ok) {
          const t = await r.text(); let j; try { j = JSON.parse(t); } catch (_) { j = t; }
          say('#run-state', detail(j), 'error'); return;
        }
        const reader = r.body.getReader(), dec = new TextDecoder();
        let buf = '', done = false;
        while (!done) {
          const chunk = await reader.read();
          if (chunk.done) break;
          buf += dec.decode(chunk.value, { stream: true });
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim(); buf = buf.slice(nl + 1);
            if (!line.startsWith('data:')) continue;
            const payload = line.slice(5).trim();
            if (payload === '[DONE]') { done = true; break; }
            let j; try { j = JSON.parse(payload); } catch (_) { continue; }
            if (j.error) { say('#run-state', j.error.message || 'the model failed', 'error'); done = true; break; }
            const c = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
            if (c) out.append(document.createTextNode(c));
          }
        }
        if ($('#run-state').className !== 'error') say('#run-state', 'done', 'ok');
      } catch (e) {
        if (e.name === 'AbortError') say('#run-state', 'stopped', 'muted');
        else say('#run-state', 'The request failed: ' + e.message, 'error');
      } finally {
        run.disabled = false; stop.disabled = true; controller = null;
      }
    });
  };

  pages.trash = async function () {
    const body = $('#trash tbody');
    const canWrite = !!$('a[href="/ui/new"]');
    const r = await api('GET', '/prompts/trash');
    body.replaceChildren();
    if (!r.ok) { body.append(el('tr', {}, el('td', { colspan: 6, class: 'error' }, detail(r.body)))); return; }
    if (!r.body.versions.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'The trash is empty.')));
    for (const v of r.body.versions) {
      const label = v.prompt_id + ' ' + v.environment + ' v' + v.version;
      const btn = canWrite ? el('button', { type: 'button', class: 'restore', 'aria-label': 'Restore ' + label }, 'Restore') : '';
      const row = el('tr', {}, el('td', {}, v.prompt_id), el('td', {}, v.environment + ' v' + v.version),
        el('td', {}, (v.deleted_at || '').replace('T', ' ').slice(0, 16)), el('td', {}, v.deleted_by || ''),
        el('td', {}, (v.purge_after || 'never').replace('T', ' ').slice(0, 16)), el('td', {}, btn));
      if (btn) btn.addEventListener('click', async () => {
        const res = await api('POST', '/prompts/' + enc(v.prompt_id) + '/restore', { environment: v.environment, version: v.version });
        if (!res.ok) { say('#trash-status', detail(res.body), 'error'); return; }
        row.remove();
        say('#trash-status', 'Restored ' + label + '.', 'ok');
      });
      body.append(row);
    }
  };

  pages.keys = function () {
    const table = $('#keys'), body = $('#keys tbody'), manage = table.dataset.manage === 'yes';
    const list = (v) => Array.isArray(v) ? v.join(', ') : 'all';
    async function load() {
      const r = await api('GET', '/key/list?return_full_object=true&size=100');
      body.replaceChildren();
      if (!r.ok) { body.append(el('tr', {}, el('td', { colspan: 6, class: 'error' }, detail(r.body)))); return; }
      for (const k of r.body.keys) {
        const md = k.metadata || {};
        let del = '';
        if (manage) {
          del = el('button', { type: 'button', class: 'delete', 'aria-label': 'Delete key ' + (k.key_alias || k.key_name) }, 'Delete');
          del.addEventListener('click', async () => {
            if (del.dataset.armed !== 'yes') { del.dataset.armed = 'yes'; del.textContent = 'Really delete?'; return; }
            const res = await api('POST', '/key/delete', { keys: [k.token] });
            if (!res.ok) { say('#keys-status', detail(res.body), 'error'); return; }
            say('#keys-status', 'Deleted ' + (k.key_alias || k.key_name) + '; it stops working now.', 'ok');
            load();
          });
        }
        body.append(el('tr', {}, el('td', {}, k.key_alias || ''), el('td', {}, el('code', {}, k.key_name)), el('td', {}, k.user_role),
          el('td', {}, list(md.prompts)), el('td', {}, list(md.environments)), el('td', {}, del)));
      }
      if (!r.body.keys.length) body.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'No keys yet.')));
    }
    load();
    const form = $('#key-form');
    if (!form) return;
    const split = (s) => s.split(',').map(x => x.trim()).filter(Boolean);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const metadata = {};
      const p = split($('#key-prompts').value), e = split($('#key-envs').value);
      if (p.length) metadata.prompts = p;
      if (e.length) metadata.environments = e;
      const r = await api('POST', '/key/generate', { key_alias: $('#key-alias').value.trim(), user_role: $('#key-role').value, metadata });
      if (!r.ok) { say('#keys-status', detail(r.body), 'error'); return; }
      $('#new-key').hidden = false;
      say('#new-key-value', r.body.key, '');
      say('#keys-status', 'Created ' + (r.body.key_alias || r.body.key_name) + '.', 'ok');
      form.reset();
      load();
    });
  };

  document.addEventListener('DOMContentLoaded', () => {
    const p = pages[document.body.dataset.page];
    if (p) p();
  });
})();
