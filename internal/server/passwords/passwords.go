// Package passwords hashes console passwords and checks them. Hashes are
// Argon2id (golang.org/x/crypto/argon2, RFC 9106) in the PHC string
// format, "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>" with
// unpadded standard base64, so that the parameters can be raised later
// and old hashes still verify. Verification compares in constant time.
package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// The parameters of new hashes: OWASP's recommended Argon2id
// configuration of 19 MiB, 2 passes, 1 lane.
const (
	memoryKiB = 19 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// Limits on the parameters a stored hash may ask for, so that a corrupt
// or hostile record cannot make Verify allocate without bound.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxPasses    = 16
	maxLanes     = 16
	maxKeyLen    = 128
	maxSaltLen   = 128
)

// ErrMalformed means a stored hash is not a PHC Argon2id string this
// package can verify.
var ErrMalformed = errors.New("passwords: malformed hash")

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of a new salted Argon2id hash of password.
func Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passwords: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, passes, memoryKiB, lanes, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Params are a parsed hash.
type Params struct {
	Memory  uint32 // KiB
	Passes  uint32
	Lanes   uint8
	Salt    []byte
	Key     []byte
	Version int
}

// Parse reads a PHC Argon2id string; errors wrap ErrMalformed.
func Parse(phc string) (Params, error) {
	var p Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, fmt.Errorf("%w: not $argon2id$v=…$m=…,t=…,p=…$salt$hash", ErrMalformed)
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return p, fmt.Errorf("%w: no version", ErrMalformed)
	}
	ver, err := strconv.Atoi(v)
	if err != nil || ver != argon2.Version {
		return p, fmt.Errorf("%w: unsupported version %q", ErrMalformed, v)
	}
	p.Version = ver
	var m, t, l uint64
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("%w: parameter %q", ErrMalformed, kv)
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return p, fmt.Errorf("%w: parameter %q", ErrMalformed, kv)
		}
		switch k {
		case "m":
			m, seen = n, seen|1
		case "t":
			t, seen = n, seen|2
		case "p":
			l, seen = n, seen|4
		default:
			return p, fmt.Errorf("%w: unknown parameter %q", ErrMalformed, k)
		}
	}
	switch {
	case seen != 7:
		return p, fmt.Errorf("%w: parameters m, t and p are all required", ErrMalformed)
	case t < 1 || t > maxPasses, l < 1 || l > maxLanes, m < 8*l || m > maxMemoryKiB:
		return p, fmt.Errorf("%w: parameters out of range", ErrMalformed)
	}
	p.Memory, p.Passes, p.Lanes = uint32(m), uint32(t), uint8(l)
	if p.Salt, err = b64.DecodeString(parts[4]); err != nil || len(p.Salt) < 8 || len(p.Salt) > maxSaltLen {
		return p, fmt.Errorf("%w: salt", ErrMalformed)
	}
	if p.Key, err = b64.DecodeString(parts[5]); err != nil || len(p.Key) < 16 || len(p.Key) > maxKeyLen {
		return p, fmt.Errorf("%w: hash", ErrMalformed)
	}
	return p, nil
}

// Verify reports whether password matches the PHC hash, comparing in
// constant time. An error (wrapping ErrMalformed) means the hash itself is
// unusable.
func Verify(phc, password string) (bool, error) {
	p, err := Parse(phc)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.Salt, p.Passes, p.Memory, p.Lanes, uint32(len(p.Key)))
	return subtle.ConstantTimeCompare(key, p.Key) == 1, nil
}

var (
	dummyOnce sync.Once
	dummy     string
)

// VerifyDummy runs the same work as Verify against a hash of no real
// password and reports nothing: a sign-in for an unknown user, or one
// without a login profile, takes as long as one with a wrong password.
func VerifyDummy(password string) {
	dummyOnce.Do(func() {
		h, err := Hash("postern dummy password")
		if err != nil {
			// No randomness: fall back to a fixed salt; the work is the same.
			h = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes,
				b64.EncodeToString(make([]byte, saltLen)), b64.EncodeToString(make([]byte, keyLen)))
		}
		dummy = h
	})
	_, _ = Verify(dummy, password)
}
