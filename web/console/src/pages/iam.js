// IAM: users, groups, roles and managed policies. View; create users and
// login profiles; attach and detach managed policies; policy documents.
import * as api from '../api.js';
import {
  h, mount, table, button, pageHeader, errorBox, loading, field, formDialog, confirmDialog,
  mono, fmtTime, tabs, toast, badge,
} from '../dom.js';

const TABS = [['#/iam/users', 'Users'], ['#/iam/groups', 'Groups'], ['#/iam/roles', 'Roles'], ['#/iam/policies', 'Policies']];
const KIND = { users: 'User', groups: 'Group', roles: 'Role' };

function result(r, action) { return r[`${action}Result`] || {}; }

/** A policy document as IAM returns it (URL-encoded JSON), pretty-printed. */
export function prettyPolicy(doc) {
  let text = doc || '';
  try { text = decodeURIComponent(text); } catch { /* already decoded */ }
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return text; }
}

export function renderIAM(view, kind, name) {
  let live = true;
  const body = h('div');
  const refresh = async () => {
    mount(body, loading());
    try {
      const node = name ? await detail(kind, name, refresh) : await listView(kind);
      if (live) mount(body, node);
    } catch (e) {
      if (live) mount(body, errorBox(e));
    }
  };
  const titles = { users: 'Users', groups: 'Groups', roles: 'Roles', policies: 'Policies' };
  const actions = [button('Refresh', () => refresh(), { testid: 'refresh' })];
  if (kind === 'users' && !name) actions.push(button('Create user', () => createUserDialog(), { kind: 'primary', testid: 'create-user' }));
  mount(view, h('div.page',
    pageHeader(name ? `${KIND[kind] || 'Policy'} ${kind === 'policies' ? name.split('/').pop() : name}` : titles[kind],
      name ? h('a', { href: `#/iam/${kind}` }, `← All ${titles[kind].toLowerCase()}`) : 'Identities and what they may do.', ...actions),
    name ? null : tabs(TABS, `#/iam/${kind}`),
    body));
  refresh();
  return () => { live = false; };
}

async function listView(kind) {
  if (kind === 'users') {
    const users = await api.iamAll('ListUsers', {}, 'Users');
    return table([
      { label: 'User name', value: (u) => h('a', { href: `#/iam/users/${encodeURIComponent(u.UserName)}` }, u.UserName) },
      { label: 'User ID', value: (u) => mono(u.UserId) },
      { label: 'ARN', value: (u) => h('span.mono.small', u.Arn) },
      { label: 'Created', value: (u) => fmtTime(u.CreateDate) },
      { label: 'Password last used', value: (u) => fmtTime(u.PasswordLastUsed) },
    ], users, { id: (u) => u.UserName, empty: 'No users.', onRow: (u) => { location.hash = `#/iam/users/${encodeURIComponent(u.UserName)}`; } });
  }
  if (kind === 'groups') {
    const groups = await api.iamAll('ListGroups', {}, 'Groups');
    return table([
      { label: 'Group name', value: (g) => h('a', { href: `#/iam/groups/${encodeURIComponent(g.GroupName)}` }, g.GroupName) },
      { label: 'Group ID', value: (g) => mono(g.GroupId) },
      { label: 'ARN', value: (g) => h('span.mono.small', g.Arn) },
      { label: 'Created', value: (g) => fmtTime(g.CreateDate) },
    ], groups, { id: (g) => g.GroupName, empty: 'No groups.', onRow: (g) => { location.hash = `#/iam/groups/${encodeURIComponent(g.GroupName)}`; } });
  }
  if (kind === 'roles') {
    const roles = await api.iamAll('ListRoles', {}, 'Roles');
    return table([
      { label: 'Role name', value: (r) => h('a', { href: `#/iam/roles/${encodeURIComponent(r.RoleName)}` }, r.RoleName) },
      { label: 'ARN', value: (r) => h('span.mono.small', r.Arn) },
      { label: 'Description', value: (r) => r.Description },
      { label: 'Max session', value: (r) => (r.MaxSessionDuration ? `${Number(r.MaxSessionDuration) / 3600} h` : ''), class: 'num' },
      { label: 'Created', value: (r) => fmtTime(r.CreateDate) },
    ], roles, { id: (r) => r.RoleName, empty: 'No roles.', onRow: (r) => { location.hash = `#/iam/roles/${encodeURIComponent(r.RoleName)}`; } });
  }
  const policies = await api.iamAll('ListPolicies', {}, 'Policies');
  return table([
    { label: 'Policy name', value: (p) => h('a', { href: `#/iam/policies/${encodeURIComponent(p.Arn)}` }, p.PolicyName) },
    { label: 'Type', value: (p) => (String(p.Arn).includes(':aws:policy/') ? 'AWS managed' : 'Customer managed') },
    { label: 'ARN', value: (p) => h('span.mono.small', p.Arn) },
    { label: 'Attached to', value: (p) => p.AttachmentCount, class: 'num' },
    { label: 'Default version', value: (p) => p.DefaultVersionId },
    { label: 'Updated', value: (p) => fmtTime(p.UpdateDate) },
  ], policies, { id: (p) => p.PolicyName, empty: 'No policies.', onRow: (p) => { location.hash = `#/iam/policies/${encodeURIComponent(p.Arn)}`; } });
}

/** Tries a call; a refusal becomes an error box in place of the section. */
async function part(fn) {
  try { return await fn(); } catch (e) { return errorBox(e); }
}

function section(title, content, ...actions) {
  return h('section.detail', h('div.section-head', h('h3', title), h('div.btn-row', actions)), content);
}

async function attachedSection(kind, name, refresh) {
  const K = KIND[kind];
  const content = await part(async () => {
    const pols = await api.iamAll(`ListAttached${K}Policies`, { [`${K}Name`]: name }, 'AttachedPolicies');
    return table([
      { label: 'Policy', value: (p) => h('a', { href: `#/iam/policies/${encodeURIComponent(p.PolicyArn)}` }, p.PolicyName) },
      { label: 'ARN', value: (p) => h('span.mono.small', p.PolicyArn) },
      { label: '', class: 'row-actions', value: (p) => button('Detach', () => confirmDialog('Detach policy', `Detach ${p.PolicyName} from ${name}?`, async () => {
        await api.query('iam', `Detach${K}Policy`, { [`${K}Name`]: name, PolicyArn: p.PolicyArn });
        refresh();
      }, { label: 'Detach' }), { kind: 'danger-ghost', testid: `detach-${p.PolicyName}` }) },
    ], pols, { id: (p) => p.PolicyName, empty: 'No managed policies attached.' });
  });
  return section('Managed policies', content, button('Attach policy', () => attachDialog(K, name, refresh), { testid: 'attach-policy' }));
}

async function inlineSection(kind, name) {
  const K = KIND[kind];
  const content = await part(async () => {
    const names = await api.iamAll(`List${K}Policies`, { [`${K}Name`]: name }, 'PolicyNames');
    if (names.length === 0) return h('p.dim', 'No inline policies.');
    const docs = await Promise.all(names.map((n) => api.query('iam', `Get${K}Policy`, { [`${K}Name`]: name, PolicyName: n })
      .then((r) => result(r, `Get${K}Policy`).PolicyDocument).catch((e) => e)));
    return h('div', names.map((n, i) => h('details.policy', h('summary', n),
      docs[i] instanceof Error ? errorBox(docs[i]) : h('pre.json', prettyPolicy(docs[i])))));
  });
  return section('Inline policies', content);
}

async function detail(kind, name, refresh) {
  if (kind === 'policies') return policyDetail(name);
  if (kind === 'users') {
    const u = result(await api.query('iam', 'GetUser', { UserName: name }), 'GetUser').User || {};
    const login = await api.query('iam', 'GetLoginProfile', { UserName: name })
      .then((r) => result(r, 'GetLoginProfile').LoginProfile || {}).catch((e) => (e.code === 'NoSuchEntity' ? null : e));
    const loginContent = login instanceof Error ? errorBox(login)
      : login ? h('p', { testid: 'login-profile' }, 'Console password set ', h('span.dim', `on ${fmtTime(login.CreateDate)}`),
        login.PasswordResetRequired === 'true' ? [' ', badge('reset required')] : null)
        : h('p.dim', { testid: 'login-profile' }, 'No console password: this user cannot sign in to the console.');
    const groups = await part(async () => {
      const gs = await api.iamAll('ListGroupsForUser', { UserName: name }, 'Groups');
      return gs.length ? h('div.chips', gs.map((g) => h('a.tag', { href: `#/iam/groups/${encodeURIComponent(g.GroupName)}` }, g.GroupName))) : h('p.dim', 'In no group.');
    });
    const mfa = await part(async () => {
      const ds = await api.iamAll('ListMFADevices', { UserName: name }, 'MFADevices');
      return ds.length ? h('div', ds.map((d) => h('div', h('span.mono', d.SerialNumber), h('span.dim', ` enabled ${fmtTime(d.EnableDate)}`)))) : h('p.dim', 'No MFA device.');
    });
    const keys = await part(async () => {
      const ks = await api.iamAll('ListAccessKeys', { UserName: name }, 'AccessKeyMetadata');
      return table([
        { label: 'Access key ID', value: (k) => mono(k.AccessKeyId) },
        { label: 'Status', value: (k) => badge(k.Status) },
        { label: 'Created', value: (k) => fmtTime(k.CreateDate) },
      ], ks, { id: (k) => k.AccessKeyId, empty: 'No access keys.' });
    });
    return h('div',
      h('dl.props', h('dt', 'ARN'), h('dd', mono(u.Arn)), h('dt', 'User ID'), h('dd', mono(u.UserId)), h('dt', 'Created'), h('dd', fmtTime(u.CreateDate)),
        h('dt', 'Password last used'), h('dd', fmtTime(u.PasswordLastUsed) || h('span.dim', 'never'))),
      section('Console access', loginContent,
        login instanceof Error ? null : button(login ? 'Reset password' : 'Enable console access', () => loginProfileDialog(name, !!login, refresh), { testid: 'login-profile-edit' }),
        login && !(login instanceof Error) ? button('Disable', () => confirmDialog('Disable console access', `Delete ${name}'s console password?`, async () => {
          await api.query('iam', 'DeleteLoginProfile', { UserName: name });
          refresh();
        }, { label: 'Disable' }), { kind: 'danger-ghost', testid: 'login-profile-delete' }) : null),
      section('Groups', groups),
      section('MFA devices', mfa),
      await attachedSection(kind, name, refresh),
      await inlineSection(kind, name),
      section('Access keys', keys));
  }
  if (kind === 'groups') {
    const r = result(await api.query('iam', 'GetGroup', { GroupName: name }), 'GetGroup');
    const g = r.Group || {};
    return h('div',
      h('dl.props', h('dt', 'ARN'), h('dd', mono(g.Arn)), h('dt', 'Group ID'), h('dd', mono(g.GroupId)), h('dt', 'Created'), h('dd', fmtTime(g.CreateDate))),
      section('Members', table([
        { label: 'User', value: (u) => h('a', { href: `#/iam/users/${encodeURIComponent(u.UserName)}` }, u.UserName) },
        { label: 'ARN', value: (u) => h('span.mono.small', u.Arn) },
      ], api.list(r.Users), { id: (u) => u.UserName, empty: 'No members.' })),
      await attachedSection(kind, name, refresh),
      await inlineSection(kind, name));
  }
  const role = result(await api.query('iam', 'GetRole', { RoleName: name }), 'GetRole').Role || {};
  return h('div',
    h('dl.props', h('dt', 'ARN'), h('dd', mono(role.Arn)), h('dt', 'Role ID'), h('dd', mono(role.RoleId)),
      h('dt', 'Description'), h('dd', role.Description || h('span.dim', '—')),
      h('dt', 'Max session'), h('dd', role.MaxSessionDuration ? `${Number(role.MaxSessionDuration) / 3600} h` : '—'),
      h('dt', 'Created'), h('dd', fmtTime(role.CreateDate))),
    section('Trust policy', h('pre.json', prettyPolicy(role.AssumeRolePolicyDocument))),
    await attachedSection(kind, name, refresh),
    await inlineSection(kind, name));
}

async function policyDetail(arn) {
  const p = result(await api.query('iam', 'GetPolicy', { PolicyArn: arn }), 'GetPolicy').Policy || {};
  const doc = await part(async () => {
    const v = result(await api.query('iam', 'GetPolicyVersion', { PolicyArn: arn, VersionId: p.DefaultVersionId }), 'GetPolicyVersion').PolicyVersion || {};
    return h('pre.json', { testid: 'policy-document' }, prettyPolicy(v.Document));
  });
  return h('div',
    h('dl.props', h('dt', 'ARN'), h('dd', mono(p.Arn)), h('dt', 'Description'), h('dd', p.Description || h('span.dim', '—')),
      h('dt', 'Attached to'), h('dd', String(p.AttachmentCount || 0)), h('dt', 'Default version'), h('dd', p.DefaultVersionId),
      h('dt', 'Updated'), h('dd', fmtTime(p.UpdateDate))),
    section(`Policy document (${p.DefaultVersionId || ''})`, doc));
}

async function attachDialog(K, name, refresh) {
  let policies;
  try { policies = await api.iamAll('ListPolicies', {}, 'Policies'); } catch (e) { toast(`${e.code}: ${e.message}`); return; }
  const sel = h('select', { required: true, testid: 'attach-policy-arn' }, h('option', { value: '' }, '— choose a policy —'),
    policies.map((p) => h('option', { value: p.Arn }, `${p.PolicyName} · ${p.Arn}`)));
  formDialog(`Attach a policy to ${name}`, () => [field('Managed policy', sel)], async (close) => {
    await api.query('iam', `Attach${K}Policy`, { [`${K}Name`]: name, PolicyArn: sel.value });
    close();
    refresh();
  }, { submitLabel: 'Attach', testid: 'attach-dialog' });
}

function loginProfileDialog(name, exists, refresh) {
  const pass = h('input', { type: 'password', required: true, autocomplete: 'new-password', testid: 'login-profile-password' });
  const reset = h('input', { type: 'checkbox', checked: true, testid: 'login-profile-reset' });
  formDialog(exists ? `Reset ${name}'s password` : `Console access for ${name}`, () => [
    field('Password', pass, 'Must meet the account password policy.'),
    h('label.check', reset, ' Require a new password at next sign-in')],
  async (close) => {
    await api.query('iam', exists ? 'UpdateLoginProfile' : 'CreateLoginProfile', { UserName: name, Password: pass.value, PasswordResetRequired: reset.checked ? 'true' : 'false' });
    close();
    toast(exists ? 'Password changed.' : 'Console access enabled.');
    refresh();
  }, { submitLabel: exists ? 'Reset password' : 'Enable', testid: 'login-profile-dialog' });
}

function createUserDialog() {
  const name = h('input', { required: true, testid: 'create-user-name', autocomplete: 'off' });
  const pass = h('input', { type: 'password', autocomplete: 'new-password', placeholder: 'optional', testid: 'create-user-password' });
  const reset = h('input', { type: 'checkbox', checked: true, testid: 'create-user-reset' });
  formDialog('Create user', () => [
    field('User name', name),
    field('Console password', pass, 'Leave empty for a user without console access.'),
    h('label.check', reset, ' Require a new password at first sign-in')],
  async (close) => {
    const n = name.value.trim();
    await api.query('iam', 'CreateUser', { UserName: n });
    if (pass.value) await api.query('iam', 'CreateLoginProfile', { UserName: n, Password: pass.value, PasswordResetRequired: reset.checked ? 'true' : 'false' });
    close();
    location.hash = `#/iam/users/${encodeURIComponent(n)}`;
  }, { submitLabel: 'Create user', testid: 'create-user-dialog' });
}
