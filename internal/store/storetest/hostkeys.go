package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/postern/postern/internal/store"
)

// testHostKeyPins: one pin per instance, the first one stays until it is
// deleted, and a deleted pin can be set again.
func testHostKeyPins(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetHostKeyPin(ctx, "i-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing pin: %v", err)
	}
	if err := s.DeleteHostKeyPin(ctx, "i-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete missing pin: %v", err)
	}
	p := store.HostKeyPin{InstanceID: "i-1", HostKey: "ssh-ed25519 AAAAone", Fingerprint: "SHA256:one",
		PinnedBy: "arn:aws:iam::" + account + ":user/alice", PinnedAt: at(1)}
	if err := s.PutHostKeyPin(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.PutHostKeyPin(ctx, store.HostKeyPin{InstanceID: "i-1", HostKey: "ssh-ed25519 AAAAtwo", Fingerprint: "SHA256:two", PinnedAt: at(2)}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second pin: %v, want ErrConflict", err)
	}
	got, err := s.GetHostKeyPin(ctx, "i-1")
	if err != nil || got.HostKey != p.HostKey || got.Fingerprint != p.Fingerprint || got.PinnedBy != p.PinnedBy || !got.PinnedAt.Equal(p.PinnedAt) || got.PinnedAt.Location().String() != "UTC" {
		t.Fatalf("pin: %+v %v, want %+v", got, err, p)
	}
	if _, err := s.GetHostKeyPin(ctx, "i-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another instance's pin: %v", err)
	}
	if err := s.DeleteHostKeyPin(ctx, "i-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetHostKeyPin(ctx, "i-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted pin: %v", err)
	}
	p.HostKey, p.Fingerprint = "ssh-ed25519 AAAAtwo", "SHA256:two"
	if err := s.PutHostKeyPin(ctx, p); err != nil {
		t.Fatalf("pin after reset: %v", err)
	}
}
