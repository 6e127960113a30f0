package storetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/postern/postern/internal/store"
)

func sessionRec(roleName string, expires time.Time) store.Session {
	n := seq.Add(1)
	hash := sha256.Sum256(fmt.Appendf(nil, "token-%d", n))
	return store.Session{
		AccessKeyID:      fmt.Sprintf("ASIA%016d", n),
		SecretSealed:     []byte{0x01, 0x00, 0xfe, byte(n)},
		SessionTokenHash: hash[:],
		RoleName:         roleName,
		RoleARN:          "arn:aws:iam::" + account + ":role/" + roleName,
		RoleID:           id("AROA"),
		SessionName:      "session-" + roleName,
		SourceUserARN:    "arn:aws:iam::" + account + ":user/alice",
		SourceIP:         "2001:db8::1",
		Expiration:       expires,
		CreateDate:       expires.Add(-time.Hour),
	}
}

func sameSession(t testing.TB, got, want store.Session) {
	t.Helper()
	if !bytes.Equal(got.SecretSealed, want.SecretSealed) {
		t.Errorf("session SecretSealed = %x, want %x", got.SecretSealed, want.SecretSealed)
	}
	if !bytes.Equal(got.SessionTokenHash, want.SessionTokenHash) {
		t.Errorf("session SessionTokenHash = %x, want %x", got.SessionTokenHash, want.SessionTokenHash)
	}
	sameTime(t, got.Expiration, want.Expiration, "session Expiration")
	sameTime(t, got.CreateDate, want.CreateDate, "session CreateDate")
	got.SecretSealed, got.SessionTokenHash, got.Expiration, got.CreateDate = nil, nil, time.Time{}, time.Time{}
	want.SecretSealed, want.SessionTokenHash, want.Expiration, want.CreateDate = nil, nil, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("session = %+v, want %+v", got, want)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	sess := sessionRec("ops", at(60))
	// Hash bytes that are easy to mangle: NULs, high bytes, invalid UTF-8.
	sess.SessionTokenHash = []byte{0x00, 0xff, 0x80, 0xc3, 0x28, 0x00, 0x7f, 0x00}
	ok(t, s.CreateSession(ctx, sess), "CreateSession")
	got, err := s.GetSession(ctx, sess.AccessKeyID)
	ok(t, err, "GetSession")
	sameSession(t, got, sess)

	full := sessionRec("ops", at(61))
	ok(t, s.CreateSession(ctx, full), "CreateSession")
	got, err = s.GetSession(ctx, full.AccessKeyID)
	ok(t, err, "GetSession")
	sameSession(t, got, full)

	dup := sessionRec("other", at(62))
	dup.AccessKeyID = sess.AccessKeyID
	err = s.CreateSession(ctx, dup)
	is(t, err, store.ErrConflict, "CreateSession with an existing id")
	wrapped(t, err, "CreateSession")

	_, err = s.GetSession(ctx, "ASIANOSUCHSESSION000")
	is(t, err, store.ErrNotFound, "GetSession missing")
	wrapped(t, err, "GetSession")

	// Sessions do not need their role to exist in the store.
	_, err = s.GetRole(ctx, "ops")
	is(t, err, store.ErrNotFound, "role of the sessions")
}

func testDeleteExpiredSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(600)
	n, err := s.DeleteExpiredSessions(ctx, now)
	ok(t, err, "DeleteExpiredSessions on an empty store")
	if n != 0 {
		t.Errorf("DeleteExpiredSessions on an empty store = %d", n)
	}

	long := sessionRec("r", now.Add(-time.Hour))
	just := sessionRec("r", now.Add(-time.Millisecond))
	exact := sessionRec("r", now) // expires at now: not before now
	live := sessionRec("r", now.Add(time.Millisecond))
	later := sessionRec("r", now.Add(12*time.Hour))
	for _, x := range []store.Session{long, just, exact, live, later} {
		ok(t, s.CreateSession(ctx, x), "CreateSession")
	}

	n, err = s.DeleteExpiredSessions(ctx, now)
	ok(t, err, "DeleteExpiredSessions")
	if n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, want 2", n)
	}
	for _, x := range []store.Session{long, just} {
		_, err := s.GetSession(ctx, x.AccessKeyID)
		is(t, err, store.ErrNotFound, "GetSession of an expired session")
	}
	for _, x := range []store.Session{exact, live, later} {
		got, err := s.GetSession(ctx, x.AccessKeyID)
		ok(t, err, "GetSession of a kept session")
		sameSession(t, got, x)
	}
	n, err = s.DeleteExpiredSessions(ctx, now)
	ok(t, err, "DeleteExpiredSessions again")
	if n != 0 {
		t.Errorf("DeleteExpiredSessions again = %d, want 0", n)
	}
	// Times in other zones compare as instants.
	n, err = s.DeleteExpiredSessions(ctx, now.Add(time.Hour).In(time.FixedZone("UTC-7", -7*3600)))
	ok(t, err, "DeleteExpiredSessions")
	if n != 2 {
		t.Errorf("DeleteExpiredSessions an hour later = %d, want 2", n)
	}
}
