// The console's entry: session, layout (top bar, left navigation) and the
// hash router (#/endpoints, #/instances/…). Each page is a function
// render(view, params) that fills view and may return a cleanup function.
import './cspstyle.js';
import * as api from './api.js';
import { h, mount, clear, errorBox, button, field, formDialog, toast, fmtTime } from './dom.js';
import { renderSignIn, renderWelcome } from './pages/signin.js';
import { renderEndpoints } from './pages/endpoints.js';
import { renderInstances } from './pages/instances.js';
import { renderNetwork } from './pages/network.js';
import { renderTunnels } from './pages/tunnels.js';
import { renderAudit } from './pages/audit.js';
import { renderIAM } from './pages/iam.js';
import { renderTerminal } from './pages/terminal.js';
import { renderRecordings, recordingsVisible, listRecordings } from './pages/recordings.js';
import { changePasswordDialog, mfaDialog } from './pages/account.js';

const NAV = [
  ['Compute', [
    ['#/endpoints', 'Instance Connect Endpoints', 'nav-endpoints'],
    ['#/instances', 'Instances', 'nav-instances'],
    ['#/tunnels', 'Live tunnels', 'nav-tunnels'],
  ]],
  ['Network', [
    ['#/network/vpcs', 'VPCs', 'nav-vpcs'],
    ['#/network/subnets', 'Subnets', 'nav-subnets'],
    ['#/network/security-groups', 'Security groups', 'nav-security-groups'],
  ]],
  ['Audit', [
    ['#/audit', 'Event history', 'nav-audit'],
    ['#/recordings', 'Session recordings', 'nav-recordings'],
  ]],
  ['IAM', [
    ['#/iam/users', 'Users', 'nav-users'],
    ['#/iam/groups', 'Groups', 'nav-groups'],
    ['#/iam/roles', 'Roles', 'nav-roles'],
    ['#/iam/policies', 'Policies', 'nav-policies'],
  ]],
];

const ROUTES = [
  [/^\/endpoints(?:\/([^/]+))?$/, (v, m) => renderEndpoints(v, m[1])],
  [/^\/instances$/, (v) => renderInstances(v)],
  [/^\/network\/(vpcs|subnets|security-groups)(?:\/([^/]+))?$/, (v, m) => renderNetwork(v, m[1], m[2])],
  [/^\/tunnels$/, (v) => renderTunnels(v)],
  [/^\/audit$/, (v) => renderAudit(v)],
  [/^\/iam\/(users|groups|roles|policies)(?:\/(.+))?$/, (v, m) => renderIAM(v, m[1], m[2] ? decodeURIComponent(m[2]) : '')],
  [/^\/connect\/([^/]+)$/, (v, m, q) => renderTerminal(v, m[1], q)],
  [/^\/recordings(?:\/([^/]+)(?:\/(live))?)?$/, (v, m) => renderRecordings(v, m[1], m[2] === 'live')],
];

const app = document.getElementById('app');
let cleanup = null;
let shell = null;
let expiryTimer = 0;
let routeSeq = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path, q: new URLSearchParams(qs || '') };
}

function runCleanup() {
  if (cleanup) {
    try { cleanup(); } catch { /* the page is going away */ }
    cleanup = null;
  }
}

async function route() {
  const seq = ++routeSeq;
  const { path, q } = parseHash();
  runCleanup();
  if (path.startsWith('/welcome/')) {
    shell = null;
    cleanup = renderWelcome(app, decodeURIComponent(path.slice('/welcome/'.length)), afterSignIn);
    return;
  }
  let s = api.currentSession();
  if (!s) {
    try {
      s = await api.loadSession();
    } catch (e) {
      mount(app, h('div.center-page', errorBox(e), button('Retry', route)));
      return;
    }
    if (seq !== routeSeq) return;
  }
  if (!s) {
    shell = null;
    const back = path !== '/' && !path.startsWith('/signin') ? path + (q.toString() ? `?${q}` : '') : '';
    cleanup = renderSignIn(app, () => afterSignIn(back));
    return;
  }
  if (path === '/' || path === '/signin' || path.startsWith('/signin/')) {
    location.replace('#/endpoints');
    return;
  }
  const view = ensureShell(s);
  highlightNav(path);
  for (const [re, fn] of ROUTES) {
    const m = path.match(re);
    if (m) {
      clear(view);
      view.className = 'view';
      try {
        cleanup = fn(view, m, q) || null;
      } catch (e) {
        mount(view, errorBox(e));
      }
      return;
    }
  }
  mount(view, h('div.page', h('h1', 'Not found'), h('p', 'There is no page at this address. '), h('a', { href: '#/endpoints' }, 'Go to the endpoints')));
}

function afterSignIn(back) {
  shell = null;
  const target = back ? `#${back}` : '#/endpoints';
  if (location.hash === target) route();
  else location.hash = target;
}

function highlightNav(path) {
  if (!shell) return;
  for (const a of shell.querySelectorAll('nav.side a')) {
    const href = a.getAttribute('href').slice(1);
    a.classList.toggle('active', path === href || path.startsWith(`${href}/`) || (href === '/instances' && path.startsWith('/connect/')));
  }
}

function identityLabel(s) {
  if (s.federated && !s.role) {
    // arn:aws:sts::<acct>:assumed-role/<role>/<session>
    const parts = String(s.arn || '').split('/');
    return `${parts[parts.length - 1]} @ ${parts[parts.length - 2] || ''}`;
  }
  if (s.role) return `${s.role.sessionName || 'session'} @ ${roleName(s.role.roleArn)}`;
  return s.userName || s.arn || '';
}
function roleName(arn) {
  return String(arn || '').split('/').pop();
}

function ensureShell(s) {
  if (shell && shell.dataset.sessionKey === sessionKey(s)) return shell.querySelector('main.view');
  const view = h('main.view', { testid: 'view' });
  const menu = h('details.menu', { testid: 'account-menu' },
    h('summary', { testid: 'identity' },
      h('span.who', { testid: 'identity-name' }, identityLabel(s)),
      h('span.acct', { testid: 'identity-account' }, `Account ${s.accountId || ''}`),
      s.role ? h('span.badge.badge-warn', 'role') : null,
      s.mfaAuthenticated ? h('span.badge.badge-ok', 'MFA') : null),
    h('div.menu-body',
      h('div.menu-info',
        h('div', h('span.dim', 'ARN '), h('code.mono', s.arn || '')),
        s.federated ? h('div', { testid: 'identity-federated' }, h('span.dim', 'Signed in through '),
          h('code.mono', String(s.federated.provider || '').replace(/^arn:aws:iam::\d+:oidc-provider\//, '')),
          h('span.dim', ' as '), h('code.mono', s.federated.subject || '')) : null,
        h('div', h('span.dim', 'Region '), s.region || ''),
        s.expiresAt ? h('div', h('span.dim', 'Session ends '), fmtTime(s.expiresAt)) : null,
        s.version ? h('div', h('span.dim', 'Postern '), s.version) : null),
      button('Switch role', () => switchRoleDialog(), { testid: 'switch-role' }),
      s.role ? button(`Back to ${s.userName || 'user'}`, async () => {
        try {
          await api.switchBack();
        } catch (e) { toastError(e); }
      }, { testid: 'switch-back' }) : null,
      !s.role && !s.federated ? button('Change password', () => changePasswordDialog(), { testid: 'change-password' }) : null,
      !s.role && !s.federated ? button('Multi-factor authentication', () => mfaDialog(s), { testid: 'mfa-setup' }) : null,
      button('Sign out', async () => {
        history.replaceState(null, '', '#/signin');
        try { await api.signOut(); } catch (e) { toastError(e); }
      }, { testid: 'signout', kind: 'danger-ghost' })));
  document.addEventListener('click', (e) => {
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
  // A choice in the menu (a dialog, switch back, sign out) closes it.
  menu.addEventListener('click', (e) => {
    if (e.target.closest('.menu-body button')) menu.open = false;
  });
  const nav = h('nav.side', { testid: 'nav' }, NAV.map(([group, links]) => h('div.nav-group',
    h('div.nav-title', group),
    links.map(([href, label, testid]) => {
      const a = h('a', { href, testid }, label);
      if (testid === 'nav-recordings' && !recordingsVisible(s)) {
        a.hidden = true;
        listRecordings().then((rows) => { if (rows.length) a.hidden = false; }).catch(() => {});
      }
      return a;
    }))));
  shell = h('div.shell',
    h('header.topbar',
      h('a.brand', { href: '#/endpoints' }, h('span.logo', '▚'), 'Postern'),
      h('span.region', { testid: 'region' }, s.region || ''),
      h('div.spacer'),
      s.role ? h('span.role-banner', { testid: 'role-banner' }, `Role ${roleName(s.role.roleArn)}`) : null,
      menu),
    h('div.body', nav, view));
  shell.dataset.sessionKey = sessionKey(s);
  mount(app, shell);
  clearTimeout(expiryTimer);
  if (s.expiresAt) {
    const ms = new Date(s.expiresAt).getTime() - Date.now();
    if (ms > 0 && ms < 2 ** 31) expiryTimer = setTimeout(() => { api.loadSession().catch(() => {}); }, ms + 1000);
  }
  return view;
}

function sessionKey(s) {
  return [s.arn, s.role ? s.role.roleArn : '', s.expiresAt, s.recordSessions].join('|');
}

function toastError(e) {
  toast(`${e.code || 'Error'}: ${e.message}`);
}

function switchRoleDialog() {
  const arn = h('input', { name: 'roleArn', required: true, placeholder: 'arn:aws:iam::123456789012:role/Admin', testid: 'switch-role-arn', autocomplete: 'off' });
  const name = h('input', { name: 'sessionName', placeholder: 'optional', testid: 'switch-role-session', autocomplete: 'off' });
  formDialog('Switch role', () => [
    h('p.dim', 'Act as an IAM role (AssumeRole). The role must trust you; your actions are recorded as the role session.'),
    field('Role ARN', arn), field('Session name', name)],
  async (close) => {
    await api.switchRole(arn.value.trim(), name.value.trim());
    close();
  }, { submitLabel: 'Switch role', testid: 'switch-role-dialog' });
}

api.onSession((s) => {
  // Signed out, or now someone else (switch role, back, role expired):
  // the layout is rebuilt and the page reloaded under the new identity.
  if (shell && (!s || shell.dataset.sessionKey !== sessionKey(s))) {
    shell = null;
    runCleanup();
    route();
  }
});
api.onNotice((text) => toast(text));
window.addEventListener('hashchange', route);
window.addEventListener('pagehide', runCleanup);
route();

