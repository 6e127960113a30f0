// Package totp makes and checks the time-based one-time passwords of
// virtual MFA devices: RFC 6238 with AWS's parameters (HMAC-SHA-1, six
// digits, 30-second steps), one step of clock skew either way. The HOTP
// arithmetic is github.com/pquerna/otp's; this package adds what an MFA
// check needs on top: the time step a code matched (so that a store can
// refuse it a second time), constant-time comparison, the otpauth:// URI
// and its QR code as PNG.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"net/url"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// AWS's virtual-MFA parameters.
const (
	// Period is the length of a time step.
	Period = 30 * time.Second
	// Digits is the length of a code.
	Digits = 6
	// Skew is how many steps before and after the current one are
	// accepted (clock drift between the server and the device).
	Skew = 1
	// seedBytes is the seed's size: 40 bytes, 64 base32 characters, as
	// AWS's Base32StringSeed.
	seedBytes = 40
)

var opts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewSeed returns a new random seed, base32-encoded without padding.
func NewSeed() (string, error) {
	b := make([]byte, seedBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("totp: new seed: %w", err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}

// Step returns the time step t falls in.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code returns the code of a time step.
func Code(seed string, step int64) (string, error) {
	if step < 0 {
		return "", fmt.Errorf("totp: negative time step %d", step)
	}
	c, err := hotp.GenerateCodeCustom(seed, uint64(step), opts)
	if err != nil {
		return "", fmt.Errorf("totp: code: %w", err)
	}
	return c, nil
}

// Match looks for code among the codes of the steps around now (Skew
// either way) and returns the step it belongs to. Every candidate is
// compared in constant time. A malformed code or seed matches nothing.
func Match(seed, code string, now time.Time) (step int64, ok bool) {
	if len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	for s := cur - Skew; s <= cur+Skew; s++ {
		want, err := Code(seed, s)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// URI returns the otpauth:// URI authenticator apps read (Key Uri Format).
func URI(issuer, account, seed string) string {
	v := url.Values{}
	v.Set("secret", seed)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// QRCodePNG returns the URI as a QR code in a PNG image, as AWS's
// QRCodePNG.
func QRCodePNG(uri string) ([]byte, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, fmt.Errorf("totp: parse URI: %w", err)
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return nil, fmt.Errorf("totp: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// MatchConsecutive checks the two consecutive codes a device shows when
// it is enabled (AWS's AuthenticationCode1 and AuthenticationCode2): code2
// must be the code of a step within Skew of now's, and code1 that of the
// step before it. It returns code2's step.
func MatchConsecutive(seed, code1, code2 string, now time.Time) (step int64, ok bool) {
	if len(code1) != Digits || len(code2) != Digits {
		return 0, false
	}
	cur := Step(now)
	for s := cur - Skew; s <= cur+Skew; s++ {
		c1, err1 := Code(seed, s-1)
		c2, err2 := Code(seed, s)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		m := subtle.ConstantTimeCompare([]byte(c1), []byte(code1)) & subtle.ConstantTimeCompare([]byte(c2), []byte(code2))
		if m == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}
