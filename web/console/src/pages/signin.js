// Sign-in: user name and password; then an MFA code when the server answers
// MFARequired, or a new password on PasswordResetRequired. The one-time
// bootstrap link #/welcome/<token> is posted once and dropped from history.
// "Sign in with <provider>" buttons start the OpenID Connect flow (the
// server answers the provider's URL); back from the provider, the page
// shows the refusal the server kept, or asks which role when the provider
// offers several.
import * as api from '../api.js';
import { h, mount, clear, errorBox, field, loading, button } from '../dom.js';

function frame(...content) {
  return h('div.signin-page',
    h('div.signin-card',
      h('div.signin-brand', h('span.logo', '▚'), 'Postern'),
      ...content),
    h('p.signin-foot', 'Sign in with your IAM user name and password. Every action in the console is an API call recorded in the trail.'));
}

export function renderSignIn(root, done) {
  const state = { step: 'password' };
  const user = h('input#signin-username', { name: 'username', autocomplete: 'username', required: true, testid: 'signin-username', autocapitalize: 'off', spellcheck: 'false' });
  const pass = h('input#signin-password', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, testid: 'signin-password' });
  const mfa = h('input#signin-mfa', { name: 'mfa', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: '6', testid: 'signin-mfa' });
  const newPass = h('input#signin-new-password', { type: 'password', name: 'newPassword', autocomplete: 'new-password', testid: 'signin-new-password' });
  const newPass2 = h('input#signin-new-password2', { type: 'password', name: 'newPassword2', autocomplete: 'new-password', testid: 'signin-new-password-confirm' });
  const mfaRow = field('MFA code', mfa, 'The 6-digit code from your authenticator app.');
  const resetRow = h('div', h('p.notice', { testid: 'signin-reset-notice' }, 'You must set a new password before you continue.'),
    field('New password', newPass), field('Confirm new password', newPass2));
  const err = h('div.err-slot');
  const btn = h('button.btn-primary.wide#signin-submit', { type: 'submit', testid: 'signin-submit' }, 'Sign in');
  const extra = h('div');

  const show = () => {
    mount(extra, state.step === 'mfa' ? mfaRow : null, state.step === 'reset' ? resetRow : null);
    mfa.required = state.step === 'mfa';
    newPass.required = newPass2.required = state.step === 'reset';
    btn.textContent = state.step === 'reset' ? 'Set password and sign in' : 'Sign in';
  };

  const form = h('form.form#signin-form', {
    testid: 'signin-form',
    on: {
      submit: async (e) => {
        e.preventDefault();
        clear(err);
        if (state.step === 'reset' && newPass.value !== newPass2.value) {
          mount(err, errorBox({ code: 'PasswordMismatch', message: 'The new passwords do not match.' }));
          return;
        }
        const body = { userName: user.value.trim(), password: pass.value };
        if (state.mfaCode || state.step === 'mfa') body.mfaCode = state.step === 'mfa' ? mfa.value.trim() : state.mfaCode;
        if (state.step === 'reset') body.newPassword = newPass.value;
        btn.disabled = true;
        try {
          await api.signIn(body);
          done();
        } catch (ex) {
          if (ex.code === 'MFARequired') {
            state.step = 'mfa';
            show();
            mount(err, h('div.alert.alert-info', { testid: 'signin-mfa-required' }, ex.message || 'Enter the code from your MFA device.'));
            mfa.focus();
          } else if (ex.code === 'PasswordResetRequired') {
            if (state.step === 'mfa') state.mfaCode = mfa.value.trim();
            state.step = 'reset';
            show();
            mount(err, h('div.alert.alert-info', ex.message || 'Your password must be changed.'));
            newPass.focus();
          } else {
            if (ex.code === 'MFAInvalid') mfa.value = '';
            mount(err, errorBox(ex));
          }
        } finally {
          btn.disabled = false;
        }
      },
    },
  },
  field('User name', user),
  field('Password', pass),
  extra,
  btn);
  show();
  const idps = h('div.signin-idps', { testid: 'signin-idps' });
  mount(root, frame(h('h1', 'Sign in'), err, idps, form));
  user.focus();
  let live = true;
  api.providers().then((list) => {
    if (!live || list.length === 0) return;
    mount(idps, list.map((p) => button(`Sign in with ${p.name}`, async (e) => {
      clear(err);
      e.target.disabled = true;
      try {
        location.assign(await api.signInOIDCStart(p.id));
      } catch (ex) {
        mount(err, errorBox(ex));
        e.target.disabled = false;
      }
    }, { kind: 'idp.wide', testid: `signin-idp-${p.id}` })), h('div.signin-or', 'or'));
  }).catch(() => { /* the password form still works */ });
  api.signInOIDCPending().then((p) => {
    if (!live) return;
    if (p.error) mount(err, errorBox(new api.ApiError(p.error.Code, p.error.Message)));
    else if (p.roles && p.roles.length) renderRolePicker(root, p, done);
  }).catch(() => {});
  return () => { live = false; };
}

// renderRolePicker: back from the provider, the person picks one of the
// roles the provider offers.
function renderRolePicker(root, p, done) {
  const err = h('div.err-slot');
  const choices = p.roles.map((r) => button(r.roleName, async (e) => {
    clear(err);
    e.target.disabled = true;
    try {
      await api.signInOIDCFinish(r.roleArn);
      history.replaceState(null, '', `${location.pathname}${location.search}#/signin`);
      done();
    } catch (ex) {
      mount(err, errorBox(ex));
      e.target.disabled = false;
    }
  }, { kind: 'idp.wide', testid: `signin-role-${r.roleName}`, title: r.roleArn }));
  mount(root, frame(h('h1', 'Choose a role'),
    h('p', { testid: 'signin-role-who' }, `Signed in with ${p.provider ? p.provider.name : 'your identity provider'}${p.subject ? ` as ${p.subject}` : ''}. Which role do you want to use?`),
    err, h('div.signin-roles', { testid: 'signin-roles' }, choices),
    button('Cancel', async () => {
      try { await api.signInOIDCCancel(); } catch { /* it expires anyway */ }
      renderSignIn(root, done);
    }, { kind: 'link', testid: 'signin-role-cancel' })));
}

export function renderWelcome(root, token, done) {
  // Drop the token from the address bar and history before anything else.
  history.replaceState(null, '', `${location.pathname}${location.search}#/signin`);
  const err = h('div.err-slot');
  mount(root, frame(h('h1', 'Welcome'), err, loading('Signing you in with your one-time link…')));
  let live = true;
  api.signInLink(token).then(() => {
    if (live) done('');
  }).catch((e) => {
    if (!live) return;
    mount(root, frame(h('h1', 'Welcome'), errorBox(e),
      h('p', 'A sign-in link works once and for a short time. Ask your administrator for a new one, or sign in with a password.'),
      h('a.btn-primary', { href: '#/signin', testid: 'welcome-signin' }, 'Sign in with a password')));
  });
  return () => { live = false; };
}
