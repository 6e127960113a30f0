package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/postern/postern/internal/store"
)

// The console sign-in repositories: login profiles, the account password
// policy and virtual MFA devices (store.LoginProfiles,
// store.PasswordPolicies, store.MFADevices). Schema: migration 0008.
//
// UseMFAStep decides the replay race with one conditional UPDATE whose
// affected-row count is the verdict, so two replicas that accept the same
// code at once cannot both win.

// ---- login profiles ----

const loginProfileCols = "u.user_name, u.user_id, p.password_hash, p.password_reset_required, p.create_date," +
	" p.password_changed, p.password_history, p.password_last_used"

// joinHistory stores the earlier hashes one per line (PHC strings hold no
// line breaks).
func joinHistory(h []string) string { return strings.Join(h, "\n") }

func splitHistory(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// CreateLoginProfile implements store.LoginProfiles.
func (r *repo) CreateLoginProfile(ctx context.Context, p store.LoginProfile) error {
	err := r.write(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindUser, p.UserName)
		if err != nil {
			return err
		}
		var n int64
		if err := q.QueryRowContext(ctx, r.q("SELECT count(*) FROM login_profiles WHERE user_id = ?"), id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrConflict
		}
		_, err = q.ExecContext(ctx, r.q("INSERT INTO login_profiles (user_id, password_hash, password_reset_required,"+
			" create_date, password_changed, password_history, password_last_used) VALUES (?, ?, ?, ?, ?, ?, ?)"),
			id, p.PasswordHash, boolInt(p.PasswordResetRequired), toMicros(p.CreateDate), optMicros(p.PasswordChanged),
			joinHistory(p.History), optMicros(p.PasswordLastUsed))
		return err
	})
	return r.fail(err, "create login profile of %q", p.UserName)
}

// GetLoginProfile implements store.LoginProfiles.
func (r *repo) GetLoginProfile(ctx context.Context, userName string) (store.LoginProfile, error) {
	var (
		p                        store.LoginProfile
		reset, cd, changed, used int64
		hist                     string
	)
	err := r.read().QueryRowContext(ctx, r.q("SELECT "+loginProfileCols+
		" FROM login_profiles p JOIN users u ON u.user_id = p.user_id WHERE u.name_key = ?"), nameKey(userName)).Scan(
		&p.UserName, &p.UserID, &p.PasswordHash, &reset, &cd, &changed, &hist, &used)
	if err != nil {
		return store.LoginProfile{}, r.fail(err, "get login profile of %q", userName)
	}
	p.PasswordResetRequired, p.CreateDate, p.PasswordChanged = reset != 0, fromMicros(cd), fromOptMicros(changed)
	p.History, p.PasswordLastUsed = splitHistory(hist), fromOptMicros(used)
	return p, nil
}

// UpdateLoginProfile implements store.LoginProfiles.
func (r *repo) UpdateLoginProfile(ctx context.Context, p store.LoginProfile) error {
	err := r.write(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindUser, p.UserName)
		if err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("UPDATE login_profiles SET password_hash = ?, password_reset_required = ?,"+
			" password_changed = ?, password_history = ?, password_last_used = ? WHERE user_id = ?"),
			p.PasswordHash, boolInt(p.PasswordResetRequired), optMicros(p.PasswordChanged), joinHistory(p.History),
			optMicros(p.PasswordLastUsed), id))
	})
	return r.fail(err, "update login profile of %q", p.UserName)
}

// DeleteLoginProfile implements store.LoginProfiles.
func (r *repo) DeleteLoginProfile(ctx context.Context, userName string) error {
	err := r.write(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindUser, userName)
		if err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM login_profiles WHERE user_id = ?"), id))
	})
	return r.fail(err, "delete login profile of %q", userName)
}

// ---- password policy ----

const passwordPolicyCols = "minimum_password_length, require_symbols, require_numbers, require_uppercase_characters," +
	" require_lowercase_characters, allow_users_to_change, max_password_age, password_reuse_prevention, hard_expiry"

// GetPasswordPolicy implements store.PasswordPolicies.
func (r *repo) GetPasswordPolicy(ctx context.Context) (store.PasswordPolicy, error) {
	var (
		p                              store.PasswordPolicy
		sym, num, up, low, allow, hard int64
	)
	err := r.read().QueryRowContext(ctx, r.q("SELECT "+passwordPolicyCols+" FROM password_policy WHERE id = 1")).Scan(
		&p.MinimumPasswordLength, &sym, &num, &up, &low, &allow, &p.MaxPasswordAge, &p.PasswordReusePrevention, &hard)
	if err != nil {
		return store.PasswordPolicy{}, r.fail(err, "get password policy")
	}
	p.RequireSymbols, p.RequireNumbers, p.RequireUppercaseCharacters = sym != 0, num != 0, up != 0
	p.RequireLowercaseCharacters, p.AllowUsersToChangePassword, p.HardExpiry = low != 0, allow != 0, hard != 0
	return p, nil
}

// PutPasswordPolicy implements store.PasswordPolicies.
func (r *repo) PutPasswordPolicy(ctx context.Context, p store.PasswordPolicy) error {
	cols := strings.Split(strings.ReplaceAll(passwordPolicyCols, " ", ""), ",")
	err := r.write(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, r.q("INSERT INTO password_policy (id, "+passwordPolicyCols+
			") VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?) "+r.s.d.onConflictUpdate([]string{"id"}, cols)),
			p.MinimumPasswordLength, boolInt(p.RequireSymbols), boolInt(p.RequireNumbers),
			boolInt(p.RequireUppercaseCharacters), boolInt(p.RequireLowercaseCharacters),
			boolInt(p.AllowUsersToChangePassword), p.MaxPasswordAge, p.PasswordReusePrevention, boolInt(p.HardExpiry))
		return err
	})
	return r.fail(err, "put password policy")
}

// DeletePasswordPolicy implements store.PasswordPolicies.
func (r *repo) DeletePasswordPolicy(ctx context.Context) error {
	err := r.write(ctx, func(q querier) error {
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM password_policy WHERE id = 1")))
	})
	return r.fail(err, "delete password policy")
}

// ---- virtual MFA devices ----

const mfaCols = "d.serial_number, d.device_name, d.path, d.seed_sealed, d.create_date, COALESCE(u.user_name, '')," +
	" COALESCE(d.user_id, ''), d.enable_date, d.last_used_step, t.tag_key, t.tag_value"

const mfaFrom = " FROM mfa_devices d LEFT JOIN users u ON u.user_id = d.user_id" +
	" LEFT JOIN mfa_device_tags t ON t.serial_number = d.serial_number"

// queryMFADevices runs a statement that selects mfaCols (one row per tag)
// and folds the rows back into devices.
func queryMFADevices(ctx context.Context, q querier, stmt string, args ...any) ([]store.MFADevice, error) {
	rows, err := q.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.MFADevice
	for rows.Next() {
		var (
			d      store.MFADevice
			cd, ed int64
			tk, tv sql.NullString
		)
		if err := rows.Scan(&d.SerialNumber, &d.DeviceName, &d.Path, &d.SeedSealed, &cd, &d.UserName, &d.UserID,
			&ed, &d.LastUsedStep, &tk, &tv); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].SerialNumber != d.SerialNumber {
			d.CreateDate, d.EnableDate = fromMicros(cd), fromOptMicros(ed)
			out = append(out, d)
		}
		if tk.Valid {
			last := &out[len(out)-1]
			last.Tags = append(last.Tags, store.Tag{Key: tk.String, Value: tv.String})
		}
	}
	return out, rows.Err()
}

// CreateMFADevice implements store.MFADevices. A device is created
// unassigned; UserName, EnableDate and LastUsedStep are ignored.
func (r *repo) CreateMFADevice(ctx context.Context, d store.MFADevice) error {
	err := r.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, r.q("INSERT INTO mfa_devices (serial_number, device_name, name_key, path,"+
			" seed_sealed, create_date, user_id, enable_date, last_used_step) VALUES (?, ?, ?, ?, ?, ?, NULL, 0, 0)"),
			d.SerialNumber, d.DeviceName, nameKey(d.DeviceName), d.Path, blob(d.SeedSealed), toMicros(d.CreateDate)); err != nil {
			return err
		}
		return insertTags(ctx, q, r.q("INSERT INTO mfa_device_tags (serial_number, position, tag_key, tag_value) VALUES (?, ?, ?, ?)"),
			d.SerialNumber, d.Tags)
	})
	return r.fail(err, "create MFA device %q", d.SerialNumber)
}

// GetMFADevice implements store.MFADevices.
func (r *repo) GetMFADevice(ctx context.Context, serialNumber string) (store.MFADevice, error) {
	ds, err := queryMFADevices(ctx, r.read(), r.q("SELECT "+mfaCols+mfaFrom+" WHERE d.serial_number = ? ORDER BY t.position"), serialNumber)
	if err == nil && len(ds) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.MFADevice{}, r.fail(err, "get MFA device %q", serialNumber)
	}
	return ds[0], nil
}

// ListMFADevices implements store.MFADevices.
func (r *repo) ListMFADevices(ctx context.Context, userName string) ([]store.MFADevice, error) {
	var out []store.MFADevice
	err := r.view(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindUser, userName)
		if err != nil {
			return err
		}
		out, err = queryMFADevices(ctx, q, r.q("SELECT "+mfaCols+mfaFrom+
			" WHERE d.user_id = ? ORDER BY d.enable_date, d.serial_number, t.position"), id)
		return err
	})
	if err != nil {
		return nil, r.fail(err, "list MFA devices of %q", userName)
	}
	return out, nil
}

// ListVirtualMFADevices implements store.MFADevices.
func (r *repo) ListVirtualMFADevices(ctx context.Context) ([]store.MFADevice, error) {
	out, err := queryMFADevices(ctx, r.read(), r.q("SELECT "+mfaCols+mfaFrom+" ORDER BY d.serial_number, t.position"))
	if err != nil {
		return nil, r.fail(err, "list virtual MFA devices")
	}
	return out, nil
}

// EnableMFADevice implements store.MFADevices: one conditional UPDATE
// (still unassigned) decides between two concurrent enables.
func (r *repo) EnableMFADevice(ctx context.Context, serialNumber, userName string, enabled time.Time, lastStep int64) error {
	err := r.write(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindUser, userName)
		if err != nil {
			return err
		}
		res, err := q.ExecContext(ctx, r.q("UPDATE mfa_devices SET user_id = ?, enable_date = ?, last_used_step = ?"+
			" WHERE serial_number = ? AND user_id IS NULL"), id, toMicros(enabled), lastStep, serialNumber)
		if err := mustAffect(res, err); !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var n int64
		if err := q.QueryRowContext(ctx, r.q("SELECT count(*) FROM mfa_devices WHERE serial_number = ?"), serialNumber).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("MFA device %q", serialNumber)
		}
		return store.ErrConflict
	})
	return r.fail(err, "enable MFA device %q for %q", serialNumber, userName)
}

// DeactivateMFADevice implements store.MFADevices.
func (r *repo) DeactivateMFADevice(ctx context.Context, serialNumber, userName string) error {
	err := r.write(ctx, func(q querier) error {
		id, _, err := r.lookupOwner(ctx, q, store.KindUser, userName)
		if err != nil {
			return err
		}
		return mustAffect(q.ExecContext(ctx, r.q("UPDATE mfa_devices SET user_id = NULL, enable_date = 0"+
			" WHERE serial_number = ? AND user_id = ?"), serialNumber, id))
	})
	return r.fail(err, "deactivate MFA device %q of %q", serialNumber, userName)
}

// DeleteMFADevice implements store.MFADevices.
func (r *repo) DeleteMFADevice(ctx context.Context, serialNumber string) error {
	err := r.write(ctx, func(q querier) error {
		var user sql.NullString
		err := q.QueryRowContext(ctx, r.q("SELECT user_id FROM mfa_devices WHERE serial_number = ?"), serialNumber).Scan(&user)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("MFA device %q", serialNumber)
		}
		if err != nil {
			return err
		}
		if user.Valid {
			return store.ErrInUse
		}
		return mustAffect(q.ExecContext(ctx, r.q("DELETE FROM mfa_devices WHERE serial_number = ?"), serialNumber))
	})
	return r.failDelete(err, "delete MFA device %q", serialNumber)
}

// UseMFAStep implements store.MFADevices.
func (r *repo) UseMFAStep(ctx context.Context, serialNumber string, step int64) error {
	err := r.write(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, r.q("UPDATE mfa_devices SET last_used_step = ? WHERE serial_number = ? AND last_used_step < ?"),
			step, serialNumber, step)
		if err := mustAffect(res, err); !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var n int64
		if err := q.QueryRowContext(ctx, r.q("SELECT count(*) FROM mfa_devices WHERE serial_number = ?"), serialNumber).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("MFA device %q", serialNumber)
		}
		return store.ErrConflict
	})
	return r.fail(err, "use MFA code of %q", serialNumber)
}
