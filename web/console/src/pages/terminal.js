// The browser terminal: a WebSocket to /console/api/terminal relaying an
// SSH session the server runs as the signed-in identity. Shows the host
// key on first connect (trust it or not), refuses a changed key with a
// warning, and when the session ends says why, with a Reconnect button.
import * as api from '../api.js';
import { h, mount, clear, button, errorBox, badge, copyable } from '../dom.js';
import { createTerminal, copySelection, pasteClipboard } from '../term.js';

const REASONS = {
  closed: 'The session ended.',
  revoked: 'The tunnel was revoked: an administrator terminated it or your access was withdrawn.',
  'max-duration': 'The tunnel reached its maximum duration.',
  'target-reset': 'The instance closed the connection (target reset).',
  error: 'The session ended with an error.',
  disconnected: 'The connection to the server was lost.',
};

/** The most bytes of keystrokes in one WebSocket message: well under the
 * server's limit of 64 KiB per message (a larger one ends the session),
 * and a small part of its 1 MiB backlog of keystrokes. */
const MAX_INPUT = 16 << 10;

/** Flow control of keystrokes: the server says (input-taken) how many bytes
 * it has taken, every 64 KiB; the page keeps at most INPUT_WINDOW bytes
 * sent and not yet taken (well under the server's 1 MiB backlog, so it
 * never drops them) and holds the rest of a paste itself, up to
 * INPUT_HOLD bytes; past that, keystrokes are dropped until what it holds
 * is sent, and it says so. */
const INPUT_WINDOW = 512 << 10;
const INPUT_HOLD = 16 << 20;

/** A count of bytes as the page shows it ("1,048,576 bytes"). */
const fmtBytes = (n) => `${n.toLocaleString('en-US')} ${n === 1 ? 'byte' : 'bytes'}`;

/** What the page says when it drops keystrokes because it holds
 * INPUT_HOLD already. Not "the instance is not reading": a paste larger
 * than INPUT_HOLD into a program that reads it all gets here too, so the
 * notice names both causes and counts what was dropped. */
const inputDroppedText = (dropped) => `More than ${INPUT_HOLD >> 20} MiB typed or pasted is waiting to be sent: the instance reads slower than you paste, or not at all. ${fmtBytes(dropped)} ${dropped === 1 ? 'was' : 'were'} dropped; what you type is dropped until what waits is sent.`;

/** What the end banner adds when keystrokes were never sent: those the
 * page still held when the session ended, and those it dropped before. */
const unsentText = (held, dropped) => `${fmtBytes(held + dropped)} you typed or pasted ${held + dropped === 1 ? 'was' : 'were'} not sent${dropped ? ` (${fmtBytes(dropped)} of them dropped when more than ${INPUT_HOLD >> 20} MiB waited)` : ''}.`;

export function wsURL(path) {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}

/** The pinned host key, shown in full (it wraps) under the terminal bar. */
function hostKeyInfo(fingerprint, testid) {
  return h('span.term-fact', { title: fingerprint }, h('span.term-label', 'host key'), h('code.mono', { testid }, fingerprint));
}

export function renderTerminal(view, instanceId, q) {
  instanceId = decodeURIComponent(instanceId);
  const osUser = q.get('user') || 'ec2-user';
  const port = Number(q.get('port') || 22);
  view.classList.add('terminal-view');

  const status = h('span.term-status', { testid: 'terminal-status' });
  const info = h('div.term-info', { testid: 'terminal-info' });
  const banner = h('div.term-banner', { testid: 'terminal-banner' });
  const box = h('div.term-box', { testid: 'terminal', id: 'terminal' });
  const reconnectBtn = button('Reconnect', () => connect(), { testid: 'reconnect', kind: 'primary' });
  const disconnectBtn = button('Disconnect', () => { userClosed = true; if (ws) ws.close(1000, 'closed by the user'); }, { testid: 'disconnect' });
  mount(view,
    h('div.term-head',
      h('div.term-bar',
        h('a.back', { href: '#/instances' }, '← Instances'),
        h('strong.mono.term-target', { testid: 'terminal-target', title: `${osUser}@${instanceId}:${port}` }, `${osUser}@${instanceId}:${port}`),
        status,
        h('span.spacer'),
        h('div.term-buttons',
          button('Copy', () => copySelection(t.term), { testid: 'terminal-copy', title: 'Copy the selection (Ctrl+Shift+C)' }),
          button('Paste', () => pasteClipboard(t.term), { testid: 'terminal-paste', title: 'Paste (Ctrl+Shift+V)' }),
          disconnectBtn)),
      info),
    banner,
    box);

  const t = createTerminal(box);
  const enc = new TextEncoder();
  let ws = null;
  let ended = false;
  let userClosed = false;
  let disposed = false;

  const setState = (state, label, kind) => {
    box.dataset.state = state;
    view.dataset.state = state;
    mount(status, h(`span.badge.badge-${kind || 'neutral'}`, { testid: 'terminal-state', 'data-state': state }, label));
  };
  const send = (obj) => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(typeof obj === 'string' || obj instanceof Uint8Array ? obj : JSON.stringify(obj));
    return true;
  };
  const endBanner = (reason, message) => {
    if (ended) return;
    ended = true;
    // What the page held is lost with the session: say how much, instead
    // of dropping it without a word.
    const unsent = heldBytes + droppedBytes ? unsentText(heldBytes, droppedBytes) : '';
    held = [];
    heldBytes = 0;
    setState('closed', 'Disconnected', 'bad');
    disconnectBtn.disabled = true;
    // The session is over: it was recorded, it is no longer recording.
    const rec = info.querySelector('[data-testid="recording"]');
    if (rec) {
      rec.className = 'badge badge-neutral';
      rec.textContent = 'recorded';
    }
    mount(banner, h(`div.alert.${reason === 'closed' ? 'alert-info' : 'alert-error'}.session-ended`, { testid: 'session-ended', 'data-reason': reason, role: 'status' },
      h('div.alert-text',
        h('strong', 'Session ended: '), h('span', { testid: 'session-ended-reason' }, reason), '. ',
        h('span', { testid: 'session-ended-message' }, message || REASONS[reason] || ''),
        unsent ? h('div', { testid: 'session-ended-unsent' }, unsent) : null),
      h('div.alert-actions', reconnectBtn)));
  };

  // Keystrokes go out in messages of at most MAX_INPUT bytes, in order: a
  // paste is one onData call, and one message over the server's limit
  // (64 KiB) would end the session. The server writes the messages to the
  // shell's stdin one after another, as one stream of bytes (its recording
  // holds back an incomplete character until the next message), so a split
  // within a character does no harm.
  //
  // At most INPUT_WINDOW bytes are on their way (sent, not yet taken);
  // the rest waits in held, in order, for input-taken. Resizes do not wait:
  // they may overtake held type-ahead, as the server lets them overtake
  // its own backlog. Only once the server's 'connected' confirms it sends
  // input-taken (acks): before, the server drops keystrokes (no shell to
  // type into), and a page that held them would type the tail of a paste
  // made during the host-key prompt into the shell once it runs; and a
  // server that does not send input-taken (an older replica) would leave
  // every keystroke past the first INPUT_WINDOW held for good.
  let acks = false; // the server confirmed it sends input-taken
  let shell = false; // the server's connected came: keystrokes reach a shell
  let sentBytes = 0; // keystrokes sent on this connection
  let takenBytes = 0; // of them, taken by the server (input-taken)
  let held = []; // messages waiting for room, in order
  let heldBytes = 0;
  let dropping = false; // dropping keystrokes until held is sent
  let droppedBytes = 0; // keystrokes the page dropped on this connection (INPUT_HOLD)
  let droppedText = null; // the count in the page's own input-dropped notice, while it shows
  const showDropped = (message) => {
    if (ended) return;
    droppedText = null;
    mount(banner, h('div.alert.alert-warn', { testid: 'input-dropped', role: 'status' },
      h('div.alert-text', message),
      h('div.alert-actions', button('Dismiss', () => { droppedText = null; clear(banner); }, { testid: 'input-dropped-dismiss' }))));
  };
  // The page's own notice counts what it dropped, and the count follows
  // what is dropped after it shows.
  const pageDropped = (n) => {
    droppedBytes += n;
    if (ended) return;
    if (droppedText && droppedText.isConnected) {
      droppedText.textContent = inputDroppedText(droppedBytes);
      return;
    }
    showDropped(inputDroppedText(droppedBytes));
    droppedText = banner.querySelector('[data-testid="input-dropped"] .alert-text');
  };
  const flushInput = () => {
    while (held.length && (!acks || sentBytes === takenBytes || sentBytes - takenBytes + held[0].length <= INPUT_WINDOW)) {
      const b = held.shift();
      heldBytes -= b.length;
      if (send(b)) sentBytes += b.length;
    }
    if (!held.length) dropping = false;
  };
  const sendInput = (b) => {
    // Before connected the server drops keystrokes (no shell yet): so does
    // the page, without holding or counting them, so that a large paste
    // during the host-key prompt neither fills the socket nor replaces the
    // prompt with the input-dropped notice.
    if (ended || !shell) return;
    if (dropping) {
      pageDropped(b.length);
      return;
    }
    for (let i = 0; i < b.length; i += MAX_INPUT) {
      const part = b.subarray(i, i + MAX_INPUT);
      if (heldBytes + part.length > INPUT_HOLD) {
        dropping = true;
        pageDropped(b.length - i);
        break;
      }
      held.push(part);
      heldBytes += part.length;
    }
    flushInput();
  };
  t.term.onData((d) => sendInput(enc.encode(d)));
  t.term.onBinary((d) => {
    const b = new Uint8Array(d.length);
    for (let i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 0xff;
    sendInput(b);
  });
  t.term.onResize(({ cols, rows }) => send({ type: 'resize', cols, rows }));

  function onControl(m) {
    switch (m.type) {
      case 'hostkey':
        if (m.known) {
          mount(info, hostKeyInfo(m.fingerprint, 'hostkey-fingerprint'));
          return;
        }
        setState('hostkey', 'Verify host key', 'warn');
        mount(banner, h('div.alert.alert-warn', { testid: 'hostkey-prompt' },
          h('div.alert-text',
            h('strong', 'First connection to this instance. '),
            'Check that the host key fingerprint is the server\'s own before you trust it; it is then pinned and a different key will be refused.',
            h('div.fp', copyable(m.fingerprint, { testid: 'hostkey-fingerprint' }))),
          h('div.alert-actions',
            button('Trust and connect', () => {
              send({ type: 'trust-host-key', fingerprint: m.fingerprint });
              clear(banner);
              setState('connecting', 'Connecting…', 'warn');
              mount(info, hostKeyInfo(m.fingerprint));
            }, { kind: 'primary', testid: 'hostkey-trust' }),
            button('Cancel', () => { userClosed = true; ws.close(1000, 'host key not trusted'); }, { testid: 'hostkey-cancel' }))));
        return;
      case 'hostkey-changed':
        setState('hostkey-changed', 'Host key changed', 'bad');
        ended = true;
        mount(banner, h('div.alert.alert-error', { testid: 'hostkey-changed', role: 'alert' },
          h('div.alert-text',
            h('strong', 'WARNING: the host key of this instance has changed. '),
            'The connection was refused: someone may be impersonating the server, or it was reinstalled. ',
            h('div.fp', 'Expected ', h('code.mono', { testid: 'hostkey-expected' }, m.expected)),
            h('div.fp', 'Received ', h('code.mono', { testid: 'hostkey-got' }, m.got)),
            h('p.dim', 'If the change is expected, an operator allowed postern:ResetHostKey can forget the pinned key; the next connection asks again.')),
          h('div.alert-actions',
            button('Forget the pinned key', async () => {
              try {
                await api.resetHostKey(instanceId, port);
                connect();
              } catch (e) { mount(banner, errorBox(e)); }
            }, { kind: 'danger', testid: 'hostkey-reset' }))));
        return;
      case 'connected':
        acks = m.inputAcks === true;
        shell = true;
        setState('connected', 'Connected', 'ok');
        clear(banner);
        if (m.recording) info.append(h('span.badge.badge-bad', { testid: 'recording' }, '● recording'));
        info.append(h('span.term-fact', h('span.term-label', 'tunnel'), h('code.mono', { testid: 'tunnel-id' }, m.tunnelId || '')));
        t.fit();
        send({ type: 'resize', cols: t.term.cols, rows: t.term.rows });
        t.term.focus();
        return;
      case 'error':
        ended = true;
        setState('error', 'Refused', 'bad');
        mount(banner, errorBox({ code: m.code, message: m.message }, reconnectBtn));
        return;
      case 'closed':
        endBanner(m.reason || 'closed', m.message);
        return;
      case 'input-dropped':
        // The instance stopped reading its input and the server's backlog
        // is full: what is typed now is lost until it reads again. Sent
        // from its own goroutine, it can come after 'closed': the end's
        // banner (with Reconnect) stays (showDropped).
        showDropped(m.message);
        return;
      case 'input-taken':
        // How many bytes of keystrokes the server has written to the
        // shell's stdin or dropped: room for what is held.
        if (Number.isFinite(m.bytes) && m.bytes > takenBytes) takenBytes = Math.min(m.bytes, sentBytes);
        flushInput();
        return;
      default:
    }
  }

  function connect() {
    if (ws) { try { ws.close(); } catch { /* closing anyway */ } }
    ended = false;
    userClosed = false;
    disconnectBtn.disabled = false;
    clear(banner);
    clear(info);
    acks = false;
    shell = false;
    sentBytes = 0;
    takenBytes = 0;
    held = [];
    heldBytes = 0;
    dropping = false;
    droppedBytes = 0;
    droppedText = null;
    t.term.reset();
    setState('connecting', 'Connecting…', 'warn');
    const s = api.currentSession();
    const sock = new WebSocket(wsURL('/console/api/terminal'));
    ws = sock;
    sock.binaryType = 'arraybuffer';
    sock.onopen = () => {
      t.fit();
      sock.send(JSON.stringify({ csrf: s ? s.csrfToken : '', instanceId, osUser, port, cols: t.term.cols, rows: t.term.rows, inputAcks: true }));
    };
    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      if (typeof ev.data === 'string') {
        let m;
        try { m = JSON.parse(ev.data); } catch { return; }
        onControl(m);
      } else {
        t.term.write(new Uint8Array(ev.data));
      }
    };
    let opened = false;
    sock.addEventListener('open', () => { opened = true; });
    sock.onclose = (ev) => {
      if (sock !== ws || disposed) return;
      if (!opened && !ended) {
        // The server answered the upgrade with an HTTP error (signed out,
        // another origin); the browser does not show it to the page.
        api.loadSession().then((sess) => {
          if (!sess) return;
          endBanner('error', 'The server refused to open the terminal. Reload the page and try again.');
        }).catch((e) => endBanner('error', `${e.code}: ${e.message}`));
        return;
      }
      if (!ended) endBanner(userClosed ? 'closed' : 'disconnected', userClosed ? 'You closed the session.' : `${REASONS.disconnected}${ev.code && ev.code !== 1000 && ev.code !== 1005 ? ` (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})` : ''}`);
    };
  }

  connect();
  const unload = () => { if (ws) ws.close(1000, 'page closed'); };
  window.addEventListener('pagehide', unload);
  return () => {
    disposed = true;
    window.removeEventListener('pagehide', unload);
    if (ws) ws.close(1000, 'closed by the user');
    t.dispose();
    view.classList.remove('terminal-view');
    delete view.dataset.state;
  };
}
