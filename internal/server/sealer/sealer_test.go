package sealer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("secret"), []byte("AKIA1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed value contains the plaintext")
	}
	tests := []struct {
		name   string
		sealed []byte
		ad     string
		ok     bool
	}{
		{"round trip", sealed, "AKIA1", true},
		{"other additional data", sealed, "AKIA2", false},
		{"truncated", sealed[:10], "AKIA1", false},
		{"empty", nil, "AKIA1", false},
		{"tampered", append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "AKIA1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := s.Open(tc.sealed, []byte(tc.ad))
			if tc.ok != (err == nil) {
				t.Fatalf("Open err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && string(pt) != "secret" {
				t.Fatalf("got %q", pt)
			}
		})
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, []byte("AKIA1")); err == nil {
		t.Fatal("opened with another key")
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload: %v %v", created, err)
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Fatal("accepted a bad key file")
	}
}
