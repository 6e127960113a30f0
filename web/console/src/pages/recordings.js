// Session recordings: the list, a player for asciicast v2 (1×/2×, seek)
// and "Join live" for running sessions (a read-only terminal).
import * as api from '../api.js';
import { h, mount, table, button, pageHeader, errorBox, loading, mono, fmtTime, fmtBytes, fmtDuration, badge } from '../dom.js';
import { createTerminal } from '../term.js';
import { wsURL } from './terminal.js';
import { parseCast, markerLabel } from './cast.js';
import { shortArn } from './tunnels.js';

let seenRecordings = false;

/** The nav shows recordings when the server records or some exist. */
export function recordingsVisible(s) {
  return !!(s && s.recordSessions) || seenRecordings;
}

// pick reads a field under any of its spellings (camelCase or AWS-style).
function pick(o, ...names) {
  for (const n of names) if (o && o[n] !== undefined && o[n] !== null) return o[n];
  return undefined;
}

function normalize(r) {
  return {
    id: pick(r, 'tunnelId', 'TunnelId', 'id'),
    instanceId: pick(r, 'instanceId', 'InstanceId'),
    osUser: pick(r, 'osUser', 'OsUser', 'InstanceOSUser'),
    principal: pick(r, 'user', 'principal', 'Principal', 'userArn', 'arn', 'userName'),
    truncated: !!pick(r, 'truncated', 'Truncated'),
    incomplete: pick(r, 'incomplete', 'Incomplete'),
    sourceIp: pick(r, 'sourceIp', 'SourceIp', 'sourceIPAddress'),
    start: pick(r, 'startedAt', 'StartedAt', 'startTime', 'start'),
    end: pick(r, 'endedAt', 'EndedAt', 'endTime', 'end'),
    duration: pick(r, 'durationSeconds', 'DurationSeconds', 'duration'),
    size: pick(r, 'size', 'sizeBytes', 'bytes', 'Size'),
    live: !!pick(r, 'live', 'Live', 'running', 'active'),
  };
}

export async function listRecordings() {
  const r = await api.getJSON('/console/api/recordings');
  const raw = Array.isArray(r) ? r : (r && (r.recordings || r.Recordings)) || [];
  if (raw.length) seenRecordings = true;
  return raw.map(normalize);
}

export function renderRecordings(view, id, live) {
  if (id && live) return renderLive(view, decodeURIComponent(id));
  if (id) return renderPlayer(view, decodeURIComponent(id));
  let alive = true;
  const body = h('div');
  const refresh = async () => {
    mount(body, loading());
    try {
      const rows = await listRecordings();
      if (!alive) return;
      mount(body, table([
        { label: 'Tunnel', value: (r) => mono(r.id) },
        { label: 'Instance', value: (r) => mono(r.instanceId) },
        { label: 'OS user', value: (r) => r.osUser },
        { label: 'Who / from', value: (r) => [h('div.mono.small', { title: r.principal }, shortArn(r.principal)), h('div.mono.small.dim', r.sourceIp)] },
        { label: 'Started', value: (r) => fmtTime(r.start) },
        { label: 'Length', value: (r) => (r.live ? badge('live') : r.duration !== undefined ? fmtDuration(r.duration) : ''), class: 'num' },
        { label: 'Size', value: (r) => [r.size !== undefined ? fmtBytes(r.size) : '', r.truncated ? [' ', badge('truncated')] : null, truncatedWhy(r)], class: 'num' },
        { label: '', class: 'row-actions', value: (r) => h('div.btn-row',
          h('a.btn', { href: `#/recordings/${encodeURIComponent(r.id)}`, testid: `replay-${r.id}` }, 'Replay'),
          r.live ? h('a.btn.btn-primary', { href: `#/recordings/${encodeURIComponent(r.id)}/live`, testid: `join-${r.id}` }, 'Join live') : null) },
      ], rows, { id: (r) => r.id, empty: 'No recorded sessions. With console.record_sessions on, every browser terminal session is recorded.' }));
    } catch (e) {
      if (alive) mount(body, errorBox(e));
    }
  };
  mount(view, h('div.page',
    pageHeader('Session recordings', 'Browser terminal sessions as they were shown: replay them, or join a running one read-only.',
      button('Refresh', () => refresh(), { testid: 'refresh' })),
    body));
  refresh();
  return () => { alive = false; };
}

/** Why a truncated recording misses part of the session, as text under
 * its badge (the server's incomplete: a write or the final sync failed,
 * or the server stopped before the recording ended), without control or
 * bidirectional characters; nothing when the server gives no reason (the
 * size cap, which the recording's own marker tells). */
function truncatedWhy(r) {
  if (!r.truncated || r.incomplete === undefined || r.incomplete === '') return null;
  return h('div.small.dim.truncated-why', { testid: `incomplete-${r.id}` }, markerLabel(r.incomplete));
}

function renderPlayer(view, id) {
  view.classList.add('terminal-view');
  let alive = true;
  const bar = h('div.term-bar', h('a.back', { href: '#/recordings' }, '← Recordings'), h('strong.mono', `Recording ${id}`));
  const controls = h('div.player-controls');
  const box = h('div.term-box.fixed', { testid: 'terminal' });
  const err = h('div.term-banner');
  const markers = h('ol.term-markers', { testid: 'recording-markers' });
  mount(view, bar, err, controls, markers, box);
  const t = createTerminal(box, { readOnly: true, fit: false });
  let timer = 0;
  const cleanup = () => {
    alive = false;
    clearTimeout(timer);
    t.dispose();
    view.classList.remove('terminal-view');
  };
  api.getText(`/console/api/recordings/${encodeURIComponent(id)}`).then((text) => {
    if (!alive) return;
    const { header, events } = parseCast(text);
    const width = Number(header.width) || 80;
    const height = Number(header.height) || 24;
    t.term.resize(width, height);
    const total = events.length ? events[events.length - 1][0] : 0;
    // Markers are not output: they are listed above the terminal, each
    // with its time, whatever point is played.
    for (const e of events) {
      if (e[1] === 'm') markers.append(markerItem(fmtClock(e[0]), e[2]));
    }
    let pos = 0; // index of the next event
    let clock = 0; // recording time shown
    let speed = 1;
    let playing = false;
    let startedAt = 0; // performance.now() at clock 0 (scaled)
    const seek = h('input.seek', { type: 'range', min: '0', max: String(Math.max(total, 0.001)), step: '0.01', value: '0', testid: 'player-seek' });
    const timeLabel = h('span.mono.small', { testid: 'player-time' });
    const playBtn = button('Play', () => (playing ? pause() : play()), { kind: 'primary', testid: 'player-play' });
    const speedBtns = [1, 2].map((s) => button(`${s}×`, () => setSpeed(s), { testid: `player-speed-${s}` }));
    const showTime = () => {
      timeLabel.textContent = `${fmtClock(clock)} / ${fmtClock(total)}`;
      seek.value = String(clock);
      speedBtns.forEach((b, i) => b.classList.toggle('active', [1, 2][i] === speed));
      playBtn.textContent = playing ? 'Pause' : pos >= events.length ? 'Replay' : 'Play';
    };
    const apply = (e) => {
      if (e[1] === 'o') t.term.write(e[2]);
      else if (e[1] === 'r') {
        const m = /^(\d+)x(\d+)$/.exec(e[2]);
        if (m) t.term.resize(Number(m[1]), Number(m[2]));
      }
    };
    const tick = () => {
      if (!alive || !playing) return;
      clock = ((performance.now() - startedAt) / 1000) * speed;
      while (pos < events.length && events[pos][0] <= clock) apply(events[pos++]);
      if (pos >= events.length) {
        playing = false;
        clock = total;
        showTime();
        return;
      }
      showTime();
      const wait = Math.min(250, Math.max(0, ((events[pos][0] - clock) / speed) * 1000));
      timer = setTimeout(tick, wait);
    };
    const play = () => {
      if (pos >= events.length) jump(0);
      playing = true;
      startedAt = performance.now() - (clock / speed) * 1000;
      tick();
    };
    const pause = () => {
      playing = false;
      clearTimeout(timer);
      showTime();
    };
    const setSpeed = (s) => {
      speed = s;
      if (playing) startedAt = performance.now() - (clock / speed) * 1000;
      showTime();
    };
    const jump = (to) => {
      clearTimeout(timer);
      t.term.reset();
      t.term.resize(width, height);
      pos = 0;
      clock = Math.max(0, Math.min(to, total));
      while (pos < events.length && events[pos][0] <= clock) apply(events[pos++]);
      if (playing) {
        startedAt = performance.now() - (clock / speed) * 1000;
        tick();
      } else {
        showTime();
      }
    };
    seek.addEventListener('input', () => jump(Number(seek.value)));
    mount(controls, playBtn, ...speedBtns, seek, timeLabel,
      header.title ? h('span.dim', header.title) : null,
      header.timestamp ? h('span.dim.small', fmtTime(Number(header.timestamp))) : null);
    showTime();
    play();
  }).catch((e) => { if (alive) mount(err, errorBox(e)); });
  return cleanup;
}

/** One marker of a recording, as a line of the list above the terminal. */
function markerItem(time, label) {
  return h('li', { testid: 'recording-marker' }, h('span.mono.small', time), ' ', h('span', markerLabel(label)));
}

function fmtClock(s) {
  s = Math.max(0, s);
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

function renderLive(view, id) {
  view.classList.add('terminal-view');
  const status = h('span');
  const banner = h('div.term-banner');
  const box = h('div.term-box.fixed', { testid: 'terminal' });
  const markers = h('ol.term-markers', { testid: 'recording-markers' });
  mount(view,
    h('div.term-bar', h('a.back', { href: '#/recordings' }, '← Recordings'), h('strong.mono', `Live ${id}`), status, h('span.dim', 'read-only')),
    banner, markers, box);
  const t = createTerminal(box, { readOnly: true, fit: false });
  const setState = (state, label, kind) => {
    box.dataset.state = state;
    mount(status, h(`span.badge.badge-${kind}`, { testid: 'terminal-state', 'data-state': state }, label));
  };
  setState('connecting', 'Joining…', 'warn');
  let ended = false;
  const s = api.currentSession();
  const ws = new WebSocket(wsURL(`/console/api/recordings/${encodeURIComponent(id)}/live`));
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    ws.send(JSON.stringify({ csrf: s ? s.csrfToken : '' }));
    setState('connected', 'Watching', 'ok');
  };
  const end = (reason, message) => {
    if (ended) return;
    ended = true;
    setState('closed', 'Ended', 'bad');
    mount(banner, h('div.alert.alert-info.session-ended', { testid: 'session-ended', 'data-reason': reason },
      h('div', h('strong', 'Session ended: '), h('span', { testid: 'session-ended-reason' }, reason), '. ', message || ''),
      h('a.btn', { href: `#/recordings/${encodeURIComponent(id)}` }, 'Replay')));
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') {
      t.term.write(new Uint8Array(ev.data));
      return;
    }
    for (const line of ev.data.split('\n')) {
      if (!line.trim()) continue;
      let m;
      try { m = JSON.parse(line); } catch { continue; }
      if (Array.isArray(m)) {
        if (m[1] === 'o') t.term.write(String(m[2]));
        else if (m[1] === 'm') markers.append(markerItem(fmtClock(Number(m[0]) || 0), m[2]));
        else if (m[1] === 'r') {
          const r = /^(\d+)x(\d+)$/.exec(String(m[2]));
          if (r) t.term.resize(Number(r[1]), Number(r[2]));
        }
      } else if (m && m.version && m.width) {
        t.term.resize(Number(m.width) || 80, Number(m.height) || 24);
      } else if (m && m.type === 'closed') {
        end(m.reason || 'closed', m.message);
      } else if (m && m.type === 'error') {
        ended = true;
        setState('error', 'Refused', 'bad');
        mount(banner, errorBox({ code: m.code, message: m.message }));
      }
    }
  };
  let opened = false;
  ws.addEventListener('open', () => { opened = true; });
  ws.onclose = (ev) => {
    if (!opened) {
      end('refused', 'The server did not let you join: the session may have ended, or you lack postern:JoinSession on its endpoint.');
      return;
    }
    end(ev.code === 1000 ? 'closed' : 'error', ev.reason || 'The live session is over.');
  };
  return () => {
    ended = true;
    ws.close(1000, 'closed');
    t.dispose();
    view.classList.remove('terminal-view');
  };
}
