package agentkey

import (
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
)

// DisplayFingerprint is the certificate's SHA-256, two lower-case hex
// digits per byte joined by colons, and the same hash as CertFingerprint
// (the join token's pin).
func TestDisplayFingerprint(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"empty", nil, "e3:b0:c4:42:98:fc:1c:14:9a:fb:f4:c8:99:6f:b9:24:27:ae:41:e4:64:9b:93:4c:a4:95:99:1b:78:52:b8:55"},
		{"abc", []byte("abc"), "ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &x509.Certificate{Raw: tt.raw}
			got := DisplayFingerprint(c)
			if got != tt.want {
				t.Errorf("DisplayFingerprint = %s, want %s", got, tt.want)
			}
			if strings.ReplaceAll(got, ":", "") != CertFingerprint(c) {
				t.Errorf("DisplayFingerprint %s is not CertFingerprint %s with colons", got, CertFingerprint(c))
			}
			if n := len(strings.Split(got, ":")); n != sha256.Size {
				t.Errorf("%d bytes shown, want %d", n, sha256.Size)
			}
		})
	}
}
