// Event history: CloudTrail LookupEvents with its LookupAttributes filter,
// StartTime/EndTime and NextToken paging; each event's full record.
import * as api from '../api.js';
import { h, mount, clear, button, pageHeader, errorBox, loading, field, fmtTime, badge, copyText, clipped, breakable } from '../dom.js';

const KEYS = ['EventName', 'Username', 'EventSource', 'ResourceName', 'ResourceType', 'EventId', 'AccessKeyId', 'ReadOnly'];

function localInput(d) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function renderAudit(view) {
  let live = true;
  const key = h('select', { testid: 'audit-key' }, h('option', { value: '' }, 'No filter'), KEYS.map((k) => h('option', { value: k }, k)));
  const value = h('input', { testid: 'audit-value', placeholder: 'value', autocomplete: 'off' });
  const start = h('input', { type: 'datetime-local', testid: 'audit-start' });
  const end = h('input', { type: 'datetime-local', testid: 'audit-end' });
  const size = h('select', { testid: 'audit-page-size' }, [25, 50].map((n) => h('option', { value: String(n) }, `${n} per page`)));
  const body = h('div');
  const pageNav = h('span.pager-nav');
  const pager = h('div.pager', h('label.pager-size', h('span.dim', 'Show'), size), pageNav);
  const tokens = ['']; // tokens[i] is the NextToken that gives page i
  let pageNo = 0;

  const load = async () => {
    mount(body, loading());
    clear(pageNav);
    const req = { MaxResults: Number(size.value) };
    if (key.value && value.value.trim()) req.LookupAttributes = [{ AttributeKey: key.value, AttributeValue: value.value.trim() }];
    if (start.value) req.StartTime = new Date(start.value).getTime() / 1000;
    if (end.value) req.EndTime = new Date(end.value).getTime() / 1000;
    if (tokens[pageNo]) req.NextToken = tokens[pageNo];
    try {
      const r = await api.jsonCall('cloudtrail', 'LookupEvents', req);
      if (!live) return;
      tokens[pageNo + 1] = r.NextToken || '';
      mount(body, eventsTable(r.Events || []));
      mount(pageNav,
        button('‹ Newer', () => { pageNo--; load(); }, { disabled: pageNo === 0, testid: 'audit-prev' }),
        h('span.dim', `Page ${pageNo + 1}`),
        button('Older ›', () => { pageNo++; load(); }, { disabled: !r.NextToken, testid: 'audit-next' }));
    } catch (e) {
      if (live) mount(body, errorBox(e));
    }
  };
  const search = (e) => {
    if (e) e.preventDefault();
    tokens.length = 1;
    pageNo = 0;
    load();
  };
  mount(view, h('div.page',
    pageHeader('Event history', 'Every API call, sign-in and tunnel, as CloudTrail records them.'),
    h('form.filters', { on: { submit: search }, testid: 'audit-filters' },
      field('Lookup attribute', key), field('Value', value), field('From', start), field('To', end),
      h('button.btn-primary', { type: 'submit', testid: 'audit-search' }, 'Search')),
    body, pager));
  size.addEventListener('change', () => search());
  const now = new Date();
  start.value = localInput(new Date(now.getTime() - 24 * 3600 * 1000));
  load();
  return () => { live = false; };
}

function eventsTable(events) {
  const tbody = h('tbody');
  if (events.length === 0) tbody.appendChild(h('tr.empty', h('td', { colspan: '6' }, 'No events match.')));
  for (const ev of events) {
    let rec = null;
    try { rec = JSON.parse(ev.CloudTrailEvent || 'null'); } catch { rec = null; }
    const err = rec && rec.errorCode;
    const tr = h('tr.clickable', { testid: `row-${ev.EventId}` },
      h('td', h('span.caret', '▸')),
      h('td.nowrap', fmtTime(ev.EventTime).replace(/ UTC$/, '')),
      h('td', h('strong', ev.EventName), err ? [' ', badge(`${err}`)] : null),
      h('td.mono.small.cell-user', h('div', clipped(ev.Username || (rec && rec.userIdentity && rec.userIdentity.arn) || '')),
        h('div.dim', clipped((rec && rec.sourceIPAddress) || ''))),
      h('td.mono.small.cell-source', breakable(ev.EventSource)),
      h('td.small.cell-resources', (ev.Resources || []).length === 0 ? h('span.dim', '—')
        : (ev.Resources || []).map((r) => h('div.resource', { title: `${r.ResourceType || ''} ${r.ResourceName || ''}`.trim() },
          r.ResourceType ? h('div.dim', breakable(r.ResourceType)) : null, h('div.mono', breakable(r.ResourceName || ''))))));
    const detail = h('tr.event-detail', { hidden: true, testid: `event-${ev.EventId}` },
      h('td', { colspan: '6' },
        h('div.event-json',
          h('div.btn-row', button('Copy JSON', () => copyText(JSON.stringify(rec, null, 2)))),
          h('pre.json', rec ? JSON.stringify(rec, null, 2) : ev.CloudTrailEvent || ''))));
    tr.addEventListener('click', () => {
      detail.hidden = !detail.hidden;
      tr.classList.toggle('open', !detail.hidden);
    });
    tbody.append(tr, detail);
  }
  return h('div.table-wrap', h('table.data.events',
    h('thead', h('tr', ['', 'Time (UTC)', 'Event', 'User / Source IP', 'Source', 'Resources'].map((c) => h('th', c)))),
    tbody));
}
