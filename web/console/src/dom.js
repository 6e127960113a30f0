// Small DOM helpers: elements are always built with createElement and
// textContent (never HTML strings), so nothing the server sends can run.

/** h('div.cls#id', {attrs, on: {click}}, ...children) */
export function h(tag, attrs, ...children) {
  let name = tag;
  const classes = [];
  let id = '';
  const m = tag.match(/^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i);
  if (m) {
    name = m[1] || 'div';
    for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
      if (part[0] === '.') classes.push(part.slice(1));
      else id = part.slice(1);
    }
  }
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  if (id) el.id = id;
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k === 'style') throw new Error('h: no inline styles');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function mount(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// ---- formatting -------------------------------------------------------------

export function fmtTime(v) {
  if (v === undefined || v === null || v === '') return '';
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace('Z', ' UTC');
}

export function fmtBytes(n) {
  n = Number(n) || 0;
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${u[i]}`;
}

export function fmtDuration(s) {
  s = Math.max(0, Math.floor(Number(s) || 0));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${String(mm).padStart(2, '0')}m`;
  if (mm) return `${mm}m ${String(ss).padStart(2, '0')}s`;
  return `${ss}s`;
}

/** The value of the Name tag in an EC2 tagSet. */
export function nameTag(tags) {
  for (const t of [].concat(tags || [])) if (t && t.key === 'Name') return t.value || '';
  return '';
}

// ---- widgets ----------------------------------------------------------------

/** A coloured state label: AWS's word, coloured by meaning. */
export function badge(state) {
  const s = String(state || '');
  let kind = 'neutral';
  if (/(complete|available|running|connected|active|healthy|true|yes|live)$/i.test(s)) kind = 'ok';
  if (/(progress|pending|draining|joining)/i.test(s)) kind = 'warn';
  if (/(fail|error|revoked|disconnected|deleted|terminated|unhealthy|false|denied|unauthorized|invalid|exception)/i.test(s)) kind = 'bad';
  return h(`span.badge.badge-${kind}`, s || '—');
}

export function mono(text) {
  return h('span.mono', text || '');
}

/**
 * A table. columns: [{label, value(row) -> node|string, class}]; rows get
 * data-testid="row-<id>".
 */
export function table(columns, rows, { id = (r) => r.id, empty = 'Nothing here yet.', onRow, selected } = {}) {
  const isNone = (v) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
  const isAction = (c) => /\brow-actions\b/.test(c.class || '');
  const values = rows.map((r) => columns.map((c) => c.value(r)));
  // An actions column that offers nothing on any row is left out, rather
  // than kept as a blank column pinned over the others.
  const keep = columns.map((c, i) => !isAction(c) || values.some((vs) => !isNone(vs[i])));
  const cols = columns.filter((_, i) => keep[i]);
  const head = h('thead', h('tr', cols.map((c) => h('th', { class: c.class }, c.label))));
  const body = h('tbody');
  if (rows.length === 0) {
    body.appendChild(h('tr.empty', h('td', { colspan: String(cols.length) }, empty)));
  }
  rows.forEach((r, ri) => {
    const rid = id(r);
    const tr = h('tr', { testid: `row-${rid}`, 'data-id': rid, class: selected && selected === rid ? 'selected' : '' },
      columns.map((c, i) => {
        if (!keep[i]) return null;
        const v = values[ri][i];
        // An action cell with nothing to offer stays blank (a dash there reads as a value).
        if (isNone(v)) return isAction(c) ? h('td', { class: c.class }) : h('td', { class: c.class }, h('span.dim', '—'));
        return h('td', { class: c.class }, v);
      }));
    if (onRow) {
      tr.classList.add('clickable');
      tr.addEventListener('click', (e) => {
        if (e.target.closest('button, a, input, select')) return;
        onRow(r);
      });
    }
    body.appendChild(tr);
  });
  const tbl = h('table.data', head, body);
  const wrap = h('div.table-wrap', tbl);
  // Mark a table wider than its card (it scrolls sideways inside it), so the
  // pinned actions column shows its seam.
  if (typeof ResizeObserver !== 'undefined') {
    const ro = new ResizeObserver(() => {
      if (!wrap.isConnected && wrap.dataset.seen) { ro.disconnect(); return; }
      if (wrap.isConnected) wrap.dataset.seen = '1';
      wrap.classList.toggle('scrolls', wrap.scrollWidth > wrap.clientWidth + 1);
    });
    ro.observe(wrap);
    ro.observe(tbl);
  }
  return wrap;
}

export function button(label, onClick, { kind = '', testid, title, disabled } = {}) {
  return h(`button${kind ? `.btn-${kind}` : ''}`, { type: 'button', testid, title, disabled, on: { click: onClick } }, label);
}

/** Page header: title, a subtitle and actions on the right. */
export function pageHeader(title, sub, ...actions) {
  return h('header.page-header',
    h('div', h('h1', title), sub ? h('p.sub', sub) : null),
    h('div.actions', actions));
}

/** A refusal: AWS's code and message; actions (buttons) sit inside it, on the right. */
export function errorBox(err, ...actions) {
  const code = err && err.code ? err.code : 'Error';
  const msg = err && err.message ? err.message : String(err);
  const acts = actions.flat().filter(Boolean);
  return h('div.alert.alert-error', { testid: 'error-banner', role: 'alert', 'data-code': code },
    h('div.alert-text', h('strong.code', { testid: 'error-code' }, code), ' ', h('span', { testid: 'error-message' }, msg)),
    acts.length ? h('div.alert-actions', acts) : null);
}

/** Tags (an EC2 tagSet, or [{key, value}]) as small key=value chips; null when there are none. */
export function tagChips(tags, { skip = [] } = {}) {
  const shown = [].concat(tags || []).filter((t) => t && t.key && !skip.includes(t.key));
  if (shown.length === 0) return null;
  return h('div.chips.tags', shown.map((t) => h('span.tag', { title: `${t.key}=${t.value || ''}` }, `${t.key}=${t.value || ''}`)));
}

/** Text that may break after '.', ':' and '/' (host names, ARNs, resource types). */
export function breakable(text) {
  const s = text === undefined || text === null ? '' : String(text);
  const out = [];
  for (const part of s.split(/(?<=[.:/])/)) out.push(part, h('wbr'));
  out.pop();
  return out;
}

/** Text that is cut with an ellipsis when its cell is narrow; the whole text is its title. */
export function clipped(text, cls = '') {
  const s = text === undefined || text === null ? '' : String(text);
  return h(`span.clip${cls ? `.${cls}` : ''}`, { title: s || undefined }, s);
}

export function loading(text = 'Loading…') {
  return h('div.loading', text);
}

/** A form field row. */
export function field(label, input, help) {
  return h('label.field', h('span.label', label), input, help ? h('span.help', help) : null);
}

/** Opens a modal dialog; build(close, errorSlot) returns its content. */
export function dialog(title, build, { wide = false, testid } = {}) {
  const dlg = h(`dialog.modal${wide ? '.wide' : ''}`, { testid });
  const errSlot = h('div.err-slot');
  const close = () => { dlg.close(); dlg.remove(); };
  dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  mount(dlg,
    h('div.modal-head', h('h2', title), h('button.icon', { type: 'button', 'aria-label': 'Close', on: { click: close } }, '×')),
    errSlot,
    h('div.modal-body', build(close, errSlot)));
  document.body.appendChild(dlg);
  dlg.showModal();
  const first = dlg.querySelector('input:not([type=hidden]):not([disabled]), select, textarea');
  if (first) first.focus();
  return dlg;
}

/**
 * A form in a dialog: fields() returns nodes, submit(close) does the work;
 * refusals appear inside the dialog.
 */
export function formDialog(title, fields, submit, { submitLabel = 'Save', wide, testid } = {}) {
  return dialog(title, (close, errSlot) => {
    const btn = h('button.btn-primary', { type: 'submit', testid: testid ? `${testid}-submit` : undefined }, submitLabel);
    const form = h('form.form', {
      on: {
        submit: async (e) => {
          e.preventDefault();
          btn.disabled = true;
          clear(errSlot);
          try {
            await submit(close, form);
          } catch (err) {
            mount(errSlot, errorBox(err));
          } finally {
            btn.disabled = false;
          }
        },
      },
    }, fields(), h('div.form-actions', button('Cancel', close), btn));
    return form;
  }, { wide, testid });
}

export function confirmDialog(title, text, action, { label = 'Delete', kind = 'danger' } = {}) {
  return dialog(title, (close, errSlot) => {
    const ok = h(`button.btn-${kind}`, { type: 'button', testid: 'confirm' }, label);
    ok.addEventListener('click', async () => {
      ok.disabled = true;
      clear(errSlot);
      try {
        await action();
        close();
      } catch (err) {
        mount(errSlot, errorBox(err));
        ok.disabled = false;
      }
    });
    return [h('p', text), h('div.form-actions', button('Cancel', close), ok)];
  });
}

let toastTimer = 0;
export function toast(text) {
  let t = document.getElementById('toast');
  if (!t) {
    t = h('div#toast', { testid: 'toast', role: 'status' });
    document.body.appendChild(t);
  }
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 3500);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard.');
  } catch {
    toast('The browser did not allow copying; select the text and copy it.');
  }
}

/** Text with a copy button (for ids, commands). */
export function copyable(text, { testid, block = false } = {}) {
  return h(block ? 'div.copyable.block' : 'span.copyable',
    h(block ? 'pre.mono' : 'code.mono', { testid }, text),
    h('button.icon.copy', { type: 'button', title: 'Copy', on: { click: () => copyText(text) } }, 'Copy'));
}

export function tabs(items, current) {
  return h('nav.tabs', items.map(([href, label]) =>
    h('a', { href, class: href === current ? 'active' : '', testid: `tab-${href.split('/').pop()}` }, label)));
}
