package totp

import (
	"bytes"
	"encoding/base32"
	"image/png"
	"strings"
	"testing"
	"time"
)

// rfcSeed is RFC 6238's SHA-1 test key, "12345678901234567890", in base32.
const rfcSeed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestRFC6238Vectors: the codes of RFC 6238 appendix B (SHA-1), six
// digits (the last six of the RFC's eight).
func TestRFC6238Vectors(t *testing.T) {
	vectors := []struct {
		unix int64
		code string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	}
	for _, v := range vectors {
		got, err := Code(rfcSeed, Step(time.Unix(v.unix, 0)))
		if err != nil || got != v.code {
			t.Errorf("T=%d: %q, %v; want %q", v.unix, got, err, v.code)
		}
	}
}

// TestMatch: the current step and one either side match and report their
// step; further ones, malformed codes and bad seeds match nothing.
func TestMatch(t *testing.T) {
	now := time.Unix(1111111111, 0)
	cur := Step(now)
	code := func(step int64) string {
		c, err := Code(rfcSeed, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		seed string
		code string
		step int64
		ok   bool
	}{
		{"current", rfcSeed, code(cur), cur, true},
		{"previous", rfcSeed, code(cur - 1), cur - 1, true},
		{"next", rfcSeed, code(cur + 1), cur + 1, true},
		{"two back", rfcSeed, code(cur - 2), 0, false},
		{"two ahead", rfcSeed, code(cur + 2), 0, false},
		{"five digits", rfcSeed, code(cur)[:5], 0, false},
		{"seven digits", rfcSeed, code(cur) + "0", 0, false},
		{"not digits", rfcSeed, "abcdef", 0, false},
		{"bad seed", "not base32!", "123456", 0, false},
		{"empty", rfcSeed, "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step, ok := Match(tc.seed, tc.code, now)
			if ok != tc.ok || (ok && step != tc.step) {
				t.Fatalf("Match = %d, %v; want %d, %v", step, ok, tc.step, tc.ok)
			}
		})
	}
	// Two consecutive codes.
	if s, ok := MatchConsecutive(rfcSeed, code(cur-1), code(cur), now); !ok || s != cur {
		t.Fatalf("MatchConsecutive = %d, %v", s, ok)
	}
	if _, ok := MatchConsecutive(rfcSeed, code(cur), code(cur-1), now); ok {
		t.Fatal("MatchConsecutive accepted codes in the wrong order")
	}
	if _, ok := MatchConsecutive(rfcSeed, code(cur), code(cur), now); ok {
		t.Fatal("MatchConsecutive accepted one code twice")
	}
}

// TestSeedAndQRCode: seeds are 40 random bytes in 64 base32 characters;
// the QR code is a PNG of the otpauth URI.
func TestSeedAndQRCode(t *testing.T) {
	a, err := NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSeed()
	if len(a) != 64 || a == b {
		t.Fatalf("seeds %q %q", a, b)
	}
	if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a); err != nil || len(raw) != 40 {
		t.Fatalf("seed %q: %v", a, err)
	}
	uri := URI("Postern", "phone@123456789012", a)
	if !strings.HasPrefix(uri, "otpauth://totp/Postern:phone@123456789012?") || !strings.Contains(uri, "secret="+a) {
		t.Fatalf("URI %q", uri)
	}
	p, err := QRCodePNG(uri)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(p))
	if err != nil || img.Bounds().Dx() != 200 {
		t.Fatalf("QR code: %v", err)
	}
}
