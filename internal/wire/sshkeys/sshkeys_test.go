package sshkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestCheck(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = otherPub
	userPub, _, _ := ed25519.GenerateKey(rand.Reader)
	sk, _ := ssh.NewPublicKey(userPub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sk)))
	now := time.Unix(1_800_000_000, 0)
	base := Entry{InstanceID: "i-0123456789abcdef0", User: "ec2-user", Expires: now.Unix() + 60, Key: line, Caller: "arn:aws:iam::1:user/a", RequestID: "r"}
	good, err := Sign(priv, base)
	if err != nil {
		t.Fatal(err)
	}
	byOther, _ := Sign(otherPriv, base)
	tampered := good
	tampered.User = "root"
	tamperedSig := good
	tamperedSig.Signature = strings.Repeat("A", len(good.Signature))
	other := base
	other.InstanceID = "i-1111111111111111f"
	otherSigned, _ := Sign(priv, other)
	expired := base
	expired.Expires = now.Unix()
	expiredSigned, _ := Sign(priv, expired)
	tests := []struct {
		name        string
		e           Entry
		user        string
		fingerprint string
		want        error
	}{
		{"valid", good, "ec2-user", "", nil},
		{"valid with its fingerprint", good, "ec2-user", ssh.FingerprintSHA256(sk), nil},
		{"another key offered", good, "ec2-user", "SHA256:AAAA", ErrFingerprint},
		{"signed by another key", byOther, "ec2-user", "", ErrSignature},
		{"field changed after signing", tampered, "root", "", ErrSignature},
		{"signature replaced", tamperedSig, "ec2-user", "", ErrSignature},
		{"for another instance", otherSigned, "ec2-user", "", ErrOtherTarget},
		{"for another user", good, "root", "", ErrOtherTarget},
		{"expired", expiredSigned, "ec2-user", "", ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Check(pub, tc.e, "i-0123456789abcdef0", tc.user, now, tc.fingerprint)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %q, %v; want %v", got, err, tc.want)
			}
			if tc.want == nil && got != line {
				t.Fatalf("printed %q, want %q", got, line)
			}
		})
	}
	if _, err := Sign(priv, Entry{User: "a\nb"}); err == nil {
		t.Fatal("a newline was signed")
	}
	s := FormatSigner(pub)
	back, err := ParseSigner(s)
	if err != nil || !back.Equal(pub) {
		t.Fatalf("signer round trip %q: %v", s, err)
	}
}

func FuzzCheck(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	e, _ := Sign(priv, Entry{InstanceID: "i-1", User: "u", Expires: 2_000_000_000, Key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG", Caller: "c", RequestID: "r"})
	f.Add(e.InstanceID, e.User, e.Key, e.Signature, e.Expires)
	f.Fuzz(func(t *testing.T, inst, user, key, sig string, exp int64) {
		entry := Entry{InstanceID: inst, User: user, Expires: exp, Key: key, Caller: "c", RequestID: "r", Signature: sig}
		if line, err := Check(pub, entry, inst, user, time.Unix(0, 0), ""); err == nil {
			// Only what the server signed passes.
			if entry.Canonical() == nil || line == "" {
				t.Fatal("empty line accepted")
			}
			if inst != e.InstanceID || user != e.User || key != e.Key || exp != e.Expires {
				t.Fatalf("an entry the server never signed passed: %+v", entry)
			}
		}
	})
}
