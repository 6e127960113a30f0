package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/postern/postern/internal/store"
)

// The console sign-in records: user sessions, login profiles, the
// password policy and virtual MFA devices.

func testUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustCreateUser(t, ctx, s, userRec("alice", "/"))
	sess := sessionRec("", at(60))
	sess.RoleName, sess.RoleARN, sess.RoleID, sess.SessionName = "", "", "", ""
	sess.UserID, sess.MFAAuthenticated, sess.AuthTime = u.UserID, true, at(1)
	ok(t, s.CreateSession(ctx, sess), "CreateSession of a user")
	got, err := s.GetSession(ctx, sess.AccessKeyID)
	ok(t, err, "GetSession")
	sameTime(t, got.AuthTime, sess.AuthTime, "session AuthTime")
	got.AuthTime = sess.AuthTime
	sameSession(t, got, sess)

	// A role session: no user, no MFA, no auth time (zero stays zero).
	role := sessionRec("ops", at(61))
	ok(t, s.CreateSession(ctx, role), "CreateSession of a role")
	got, err = s.GetSession(ctx, role.AccessKeyID)
	ok(t, err, "GetSession")
	if got.UserID != "" || got.MFAAuthenticated || !got.AuthTime.IsZero() {
		t.Errorf("role session = UserID %q, MFA %v, AuthTime %v; want empty", got.UserID, got.MFAAuthenticated, got.AuthTime)
	}

	ok(t, s.DeleteSession(ctx, sess.AccessKeyID), "DeleteSession")
	_, err = s.GetSession(ctx, sess.AccessKeyID)
	is(t, err, store.ErrNotFound, "GetSession after DeleteSession")
	err = s.DeleteSession(ctx, sess.AccessKeyID)
	is(t, err, store.ErrNotFound, "DeleteSession twice")
	wrapped(t, err, "DeleteSession")
	// The other session stays.
	_, err = s.GetSession(ctx, role.AccessKeyID)
	ok(t, err, "GetSession of the other session")

	// DeleteSession inside a failed transaction leaves the session.
	_ = s.InTx(ctx, func(tx store.Repo) error {
		ok(t, tx.DeleteSession(ctx, role.AccessKeyID), "DeleteSession in InTx")
		return store.ErrConflict
	})
	_, err = s.GetSession(ctx, role.AccessKeyID)
	ok(t, err, "GetSession after a rolled-back delete")
}

func sameProfile(t testing.TB, got, want store.LoginProfile) {
	t.Helper()
	sameTime(t, got.CreateDate, want.CreateDate, "profile CreateDate")
	sameTime(t, got.PasswordChanged, want.PasswordChanged, "profile PasswordChanged")
	sameTime(t, got.PasswordLastUsed, want.PasswordLastUsed, "profile PasswordLastUsed")
	got.CreateDate, got.PasswordChanged, got.PasswordLastUsed = want.CreateDate, want.PasswordChanged, want.PasswordLastUsed
	if !reflect.DeepEqual(got, want) {
		t.Errorf("login profile = %+v, want %+v", got, want)
	}
}

func testLoginProfiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustCreateUser(t, ctx, s, userRec("Alice", "/"))
	p := store.LoginProfile{UserName: "alice", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		PasswordResetRequired: true, CreateDate: at(1), PasswordChanged: at(1)}
	ok(t, s.CreateLoginProfile(ctx, p), "CreateLoginProfile")
	got, err := s.GetLoginProfile(ctx, "ALICE")
	ok(t, err, "GetLoginProfile")
	want := p
	want.UserName, want.UserID = "Alice", u.UserID // the name as created
	sameProfile(t, got, want)

	err = s.CreateLoginProfile(ctx, p)
	is(t, err, store.ErrConflict, "CreateLoginProfile twice")
	wrapped(t, err, "CreateLoginProfile")
	err = s.CreateLoginProfile(ctx, store.LoginProfile{UserName: "nobody", PasswordHash: "x", CreateDate: at(1)})
	is(t, err, store.ErrNotFound, "CreateLoginProfile of a missing user")
	_, err = s.GetLoginProfile(ctx, "nobody")
	is(t, err, store.ErrNotFound, "GetLoginProfile of a missing user")
	mustCreateUser(t, ctx, s, userRec("bob", "/"))
	_, err = s.GetLoginProfile(ctx, "bob")
	is(t, err, store.ErrNotFound, "GetLoginProfile without a profile")
	wrapped(t, err, "GetLoginProfile")

	upd := want
	upd.PasswordHash, upd.PasswordResetRequired, upd.PasswordChanged = "$argon2id$new", false, at(5)
	upd.History = []string{p.PasswordHash, "$argon2id$older"}
	upd.PasswordLastUsed = at(6)
	upd.CreateDate = at(99) // not updatable
	ok(t, s.UpdateLoginProfile(ctx, upd), "UpdateLoginProfile")
	got, err = s.GetLoginProfile(ctx, "alice")
	ok(t, err, "GetLoginProfile after update")
	upd.CreateDate = want.CreateDate
	sameProfile(t, got, upd)
	err = s.UpdateLoginProfile(ctx, store.LoginProfile{UserName: "bob", PasswordHash: "x"})
	is(t, err, store.ErrNotFound, "UpdateLoginProfile without a profile")

	ok(t, s.DeleteLoginProfile(ctx, "alice"), "DeleteLoginProfile")
	_, err = s.GetLoginProfile(ctx, "alice")
	is(t, err, store.ErrNotFound, "GetLoginProfile after delete")
	is(t, s.DeleteLoginProfile(ctx, "alice"), store.ErrNotFound, "DeleteLoginProfile twice")
}

func testPasswordPolicy(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetPasswordPolicy(ctx)
	is(t, err, store.ErrNotFound, "GetPasswordPolicy before any")
	wrapped(t, err, "GetPasswordPolicy")
	is(t, s.DeletePasswordPolicy(ctx), store.ErrNotFound, "DeletePasswordPolicy before any")
	for _, p := range []store.PasswordPolicy{
		{MinimumPasswordLength: 12, RequireSymbols: true, RequireNumbers: true, RequireUppercaseCharacters: true,
			RequireLowercaseCharacters: true, AllowUsersToChangePassword: true, MaxPasswordAge: 90, PasswordReusePrevention: 5, HardExpiry: true},
		{MinimumPasswordLength: 8}, // replaces every field
	} {
		ok(t, s.PutPasswordPolicy(ctx, p), "PutPasswordPolicy")
		got, err := s.GetPasswordPolicy(ctx)
		ok(t, err, "GetPasswordPolicy")
		if got != p {
			t.Errorf("password policy = %+v, want %+v", got, p)
		}
	}
	ok(t, s.DeletePasswordPolicy(ctx), "DeletePasswordPolicy")
	_, err = s.GetPasswordPolicy(ctx)
	is(t, err, store.ErrNotFound, "GetPasswordPolicy after delete")
}

func mfaRec(name string) store.MFADevice {
	return store.MFADevice{SerialNumber: "arn:aws:iam::" + account + ":mfa/" + name, DeviceName: name, Path: "/",
		SeedSealed: []byte{0x00, 0xff, 0x80, byte(seq.Add(1))}, CreateDate: at(2)}
}

func testMFADevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustCreateUser(t, ctx, s, userRec("alice", "/"))
	d := mfaRec("phone")
	d.Tags = []store.Tag{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}}
	ok(t, s.CreateMFADevice(ctx, d), "CreateMFADevice")
	got, err := s.GetMFADevice(ctx, d.SerialNumber)
	ok(t, err, "GetMFADevice")
	if !bytes.Equal(got.SeedSealed, d.SeedSealed) || got.DeviceName != "phone" || got.UserID != "" || !got.EnableDate.IsZero() || got.LastUsedStep != 0 {
		t.Errorf("device = %+v, want unassigned %+v", got, d)
	}
	sameTime(t, got.CreateDate, d.CreateDate, "device CreateDate")
	sameTags(t, got.Tags, d.Tags, "device tags")

	dup := mfaRec("PHONE")
	is(t, s.CreateMFADevice(ctx, dup), store.ErrConflict, "CreateMFADevice with a name that differs in case")
	_, err = s.GetMFADevice(ctx, "arn:aws:iam::"+account+":mfa/none")
	is(t, err, store.ErrNotFound, "GetMFADevice missing")
	wrapped(t, err, "GetMFADevice")

	other := mfaRec("spare")
	ok(t, s.CreateMFADevice(ctx, other), "CreateMFADevice")
	all, err := s.ListVirtualMFADevices(ctx)
	ok(t, err, "ListVirtualMFADevices")
	sameNames(t, names(all, func(d store.MFADevice) string { return d.DeviceName }), []string{"phone", "spare"}, "ListVirtualMFADevices")

	list, err := s.ListMFADevices(ctx, "alice")
	ok(t, err, "ListMFADevices")
	if len(list) != 0 {
		t.Errorf("ListMFADevices before enable = %d devices", len(list))
	}
	_, err = s.ListMFADevices(ctx, "nobody")
	is(t, err, store.ErrNotFound, "ListMFADevices of a missing user")

	ok(t, s.EnableMFADevice(ctx, d.SerialNumber, "ALICE", at(3), 100), "EnableMFADevice")
	is(t, s.EnableMFADevice(ctx, d.SerialNumber, "alice", at(3), 100), store.ErrConflict, "EnableMFADevice twice")
	is(t, s.EnableMFADevice(ctx, "arn:aws:iam::"+account+":mfa/none", "alice", at(3), 1), store.ErrNotFound, "EnableMFADevice missing device")
	is(t, s.EnableMFADevice(ctx, other.SerialNumber, "nobody", at(3), 1), store.ErrNotFound, "EnableMFADevice missing user")
	list, err = s.ListMFADevices(ctx, "alice")
	ok(t, err, "ListMFADevices")
	if len(list) != 1 || list[0].SerialNumber != d.SerialNumber || list[0].UserName != "alice" || list[0].UserID != u.UserID || list[0].LastUsedStep != 100 {
		t.Fatalf("ListMFADevices = %+v", list)
	}
	sameTime(t, list[0].EnableDate, at(3), "EnableDate")

	// Steps: only later ones are accepted.
	ok(t, s.UseMFAStep(ctx, d.SerialNumber, 101), "UseMFAStep later")
	is(t, s.UseMFAStep(ctx, d.SerialNumber, 101), store.ErrConflict, "UseMFAStep replayed")
	is(t, s.UseMFAStep(ctx, d.SerialNumber, 99), store.ErrConflict, "UseMFAStep earlier")
	is(t, s.UseMFAStep(ctx, "arn:aws:iam::"+account+":mfa/none", 5), store.ErrNotFound, "UseMFAStep missing")

	err = s.DeleteMFADevice(ctx, d.SerialNumber)
	is(t, err, store.ErrInUse, "DeleteMFADevice while enabled")
	wrapped(t, err, "DeleteMFADevice")
	is(t, s.DeactivateMFADevice(ctx, d.SerialNumber, "bob"), store.ErrNotFound, "DeactivateMFADevice of a missing user")
	mustCreateUser(t, ctx, s, userRec("bob", "/"))
	is(t, s.DeactivateMFADevice(ctx, d.SerialNumber, "bob"), store.ErrNotFound, "DeactivateMFADevice of another user")
	ok(t, s.DeactivateMFADevice(ctx, d.SerialNumber, "alice"), "DeactivateMFADevice")
	got, err = s.GetMFADevice(ctx, d.SerialNumber)
	ok(t, err, "GetMFADevice after deactivate")
	if got.UserID != "" || got.UserName != "" || !got.EnableDate.IsZero() {
		t.Errorf("deactivated device = %+v", got)
	}
	ok(t, s.DeleteMFADevice(ctx, d.SerialNumber), "DeleteMFADevice")
	is(t, s.DeleteMFADevice(ctx, d.SerialNumber), store.ErrNotFound, "DeleteMFADevice twice")
	// The name is free again.
	ok(t, s.CreateMFADevice(ctx, mfaRec("phone")), "CreateMFADevice after delete")
}

// testMFAStepRace: of many concurrent uses of one step, exactly one wins.
func testMFAStepRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := mfaRec("race")
	ok(t, s.CreateMFADevice(ctx, d), "CreateMFADevice")
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.UseMFAStep(ctx, d.SerialNumber, 42)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("UseMFAStep: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of %d concurrent uses of one step won, want 1", wins, n)
	}
}

func testUserDeleteWithSignIn(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, userRec("alice", "/"))
	ok(t, s.CreateLoginProfile(ctx, store.LoginProfile{UserName: "alice", PasswordHash: "h", CreateDate: at(1)}), "CreateLoginProfile")
	is(t, s.DeleteUser(ctx, "alice"), store.ErrInUse, "DeleteUser with a login profile")
	ok(t, s.DeleteLoginProfile(ctx, "alice"), "DeleteLoginProfile")

	d := mfaRec("phone")
	ok(t, s.CreateMFADevice(ctx, d), "CreateMFADevice")
	ok(t, s.EnableMFADevice(ctx, d.SerialNumber, "alice", at(2), 1), "EnableMFADevice")
	is(t, s.DeleteUser(ctx, "alice"), store.ErrInUse, "DeleteUser with an MFA device")
	ok(t, s.DeactivateMFADevice(ctx, d.SerialNumber, "alice"), "DeactivateMFADevice")
	ok(t, s.DeleteUser(ctx, "alice"), "DeleteUser")
	// The unassigned device outlives the user, as in AWS.
	_, err := s.GetMFADevice(ctx, d.SerialNumber)
	ok(t, err, "GetMFADevice after the user's deletion")
}
