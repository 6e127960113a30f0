package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/postern/postern/internal/store"
)

func testPushedKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(id, inst, user string, created, expires int) store.PushedKey {
		return store.PushedKey{KeyID: id, InstanceID: inst, OSUser: user, PublicKey: "ssh-ed25519 AAAA" + id, CallerARN: "arn:aws:iam::" + account + ":user/alice",
			RequestID: "req-" + id, CreatedAt: at(created), ExpiresAt: at(expires), Signature: []byte("sig-" + id)}
	}
	keys := []store.PushedKey{
		mk("k1", "i-1", "ec2-user", 0, 1), mk("k2", "i-1", "ec2-user", 1, 3), mk("k3", "i-1", "root", 1, 3), mk("k4", "i-2", "ec2-user", 1, 3),
	}
	for _, k := range keys {
		if err := s.PutPushedKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutPushedKey(ctx, keys[0]); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate key id: %v", err)
	}
	got, err := s.ListPushedKeys(ctx, "i-1", "ec2-user", at(0))
	if err != nil || len(got) != 2 || got[0].KeyID != "k1" || got[1].KeyID != "k2" {
		t.Fatalf("keys of i-1/ec2-user at 0: %+v %v", got, err)
	}
	k := got[1]
	if k.PublicKey != keys[1].PublicKey || !k.ExpiresAt.Equal(keys[1].ExpiresAt) || !bytes.Equal(k.Signature, keys[1].Signature) || k.CallerARN != keys[1].CallerARN {
		t.Fatalf("record differs: %+v", k)
	}
	// Expiry is exclusive: at its expiry time a key is gone.
	if got, _ := s.ListPushedKeys(ctx, "i-1", "ec2-user", at(1)); len(got) != 1 || got[0].KeyID != "k2" {
		t.Fatalf("keys at 1: %+v", got)
	}
	if n, err := s.DeleteExpiredPushedKeys(ctx, at(2)); err != nil || n != 1 {
		t.Fatalf("delete expired: %d %v", n, err)
	}
	if got, _ := s.ListPushedKeys(ctx, "i-2", "ec2-user", at(0)); len(got) != 1 {
		t.Fatalf("i-2's key: %+v", got)
	}
}
