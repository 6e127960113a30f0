package sshkeys

import (
	"crypto/ed25519"
	"testing"
)

// FuzzParseSigner reads arbitrary lines as the server's signing key: it
// never panics, accepts only an Ed25519 key, and what it accepted reads
// back the same from what FormatSigner writes for it.
func FuzzParseSigner(f *testing.F) {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	f.Add(FormatSigner(pub))
	f.Add(FormatSigner(pub) + "\n")
	f.Add("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG")
	f.Add("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 x")
	f.Add(`command="x" ` + FormatSigner(pub))
	f.Add("")
	f.Fuzz(func(t *testing.T, line string) {
		key, err := ParseSigner(line)
		if err != nil {
			return
		}
		if len(key) != ed25519.PublicKeySize {
			t.Fatalf("ParseSigner(%q) accepted a %d-byte key", line, len(key))
		}
		again, err := ParseSigner(FormatSigner(key))
		if err != nil || !again.Equal(key) {
			t.Fatalf("ParseSigner(%q) = %x; written and read again %x, %v", line, key, again, err)
		}
	})
}
