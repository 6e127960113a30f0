// The signed-in user's own settings: change password (IAM ChangePassword)
// and a virtual MFA device (CreateVirtualMFADevice, EnableMFADevice,
// DeactivateMFADevice).
import * as api from '../api.js';
import { h, mount, field, formDialog, dialog, errorBox, loading, button, copyable, toast, fmtTime } from '../dom.js';

export function changePasswordDialog() {
  const old = h('input', { type: 'password', required: true, autocomplete: 'current-password', testid: 'old-password' });
  const pw = h('input', { type: 'password', required: true, autocomplete: 'new-password', testid: 'new-password' });
  const pw2 = h('input', { type: 'password', required: true, autocomplete: 'new-password', testid: 'new-password-confirm' });
  formDialog('Change password', () => [field('Current password', old), field('New password', pw), field('Confirm new password', pw2)],
    async (close) => {
      if (pw.value !== pw2.value) throw new api.ApiError('PasswordMismatch', 'The new passwords do not match.');
      await api.query('iam', 'ChangePassword', { OldPassword: old.value, NewPassword: pw.value });
      close();
      toast('Password changed.');
    }, { submitLabel: 'Change password', testid: 'change-password-dialog' });
}

export function mfaDialog(session) {
  const user = session.userName;
  dialog('Multi-factor authentication', (close, errSlot) => {
    const body = h('div', loading());
    const show = async () => {
      mount(body, loading());
      try {
        const r = await api.query('iam', 'ListMFADevices', { UserName: user });
        const devices = api.list((r.ListMFADevicesResult || {}).MFADevices);
        if (devices.length) {
          mount(body,
            h('p', 'Your sign-in asks for a code from this device:'),
            devices.map((d) => h('div.mfa-device', { testid: 'mfa-device' },
              h('code.mono', d.SerialNumber), h('span.dim', ` enabled ${fmtTime(d.EnableDate)} `),
              button('Remove', async () => {
                try {
                  await api.query('iam', 'DeactivateMFADevice', { UserName: user, SerialNumber: d.SerialNumber });
                  await api.query('iam', 'DeleteVirtualMFADevice', { SerialNumber: d.SerialNumber }).catch(() => {});
                  toast('MFA device removed.');
                  show();
                } catch (e) { mount(errSlot, errorBox(e)); }
              }, { kind: 'danger-ghost', testid: 'mfa-remove' }))));
        } else {
          mount(body, h('p', 'No MFA device. Add an authenticator app (TOTP) so that signing in needs a code as well as your password.'),
            button('Set up an authenticator app', () => setup(), { kind: 'primary', testid: 'mfa-start' }));
        }
      } catch (e) { mount(body, errorBox(e)); }
    };
    const setup = async () => {
      mount(body, loading());
      let dev;
      try {
        const r = await api.query('iam', 'CreateVirtualMFADevice', { VirtualMFADeviceName: `${user}-${Date.now().toString(36)}` });
        dev = (r.CreateVirtualMFADeviceResult || {}).VirtualMFADevice || {};
      } catch (e) { mount(body, errorBox(e)); return; }
      const c1 = h('input', { required: true, inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6', testid: 'mfa-code1', autocomplete: 'one-time-code' });
      const c2 = h('input', { required: true, inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: '6', testid: 'mfa-code2', autocomplete: 'one-time-code' });
      // Base32StringSeed is a blob: base64 on the wire of the base32 text.
      let seed = dev.Base32StringSeed || '';
      try { seed = atob(seed); } catch { /* already text */ }
      const uri = `otpauth://totp/Postern:${encodeURIComponent(user)}@${session.accountId}?secret=${seed}&issuer=Postern`;
      const form = h('form.form', {
        on: {
          submit: async (e) => {
            e.preventDefault();
            try {
              await api.query('iam', 'EnableMFADevice', { UserName: user, SerialNumber: dev.SerialNumber, AuthenticationCode1: c1.value, AuthenticationCode2: c2.value });
              toast('MFA enabled. Your next sign-in asks for a code.');
              mount(errSlot);
              show();
            } catch (ex) { mount(errSlot, errorBox(ex)); }
          },
        },
      },
      h('p', 'Scan the QR code with your authenticator app, or type the secret key. Then enter two consecutive codes.'),
      dev.QRCodePNG ? h('img.qr', { src: `data:image/png;base64,${dev.QRCodePNG}`, alt: 'QR code', width: '200', height: '200' }) : null,
      field('Secret key', copyable(seed, { testid: 'mfa-secret' })),
      field('Setup URI', copyable(uri, { testid: 'mfa-uri' })),
      h('div.row2', field('Code 1', c1), field('Code 2', c2)),
      h('div.form-actions', button('Cancel', async () => {
        await api.query('iam', 'DeleteVirtualMFADevice', { SerialNumber: dev.SerialNumber }).catch(() => {});
        close();
      }), h('button.btn-primary', { type: 'submit', testid: 'mfa-enable' }, 'Enable MFA')));
      mount(body, form);
    };
    show();
    return body;
  }, { testid: 'mfa-dialog' });
}
