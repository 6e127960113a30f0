// Package passwords hashes console passwords and checks them. Hashes are
// Argon2id (golang.org/x/crypto/argon2, RFC 9106) in the PHC string
// format, "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>" with
// unpadded standard base64, so that the parameters can be raised later
// and old hashes still verify. Verification compares in constant time.
// VerifyDummy does a verification's work for a sign-in that has no hash to
// verify, and KDFRuns counts the Argon2id evaluations so that tests show
// that work without timing it.
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
	return encode(salt, idKey([]byte(password), salt, newCost)), nil
}

// encode is the PHC string of a key derived with newCost: Hash and the
// dummy hash share it, so their parameters cannot drift apart.
func encode(salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, newCost.Memory, newCost.Passes, newCost.Lanes,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Cost is the work of one Argon2id evaluation: its parameters, never its
// inputs.
type Cost struct {
	Memory uint32 // KiB
	Passes uint32
	Lanes  uint8
	KeyLen uint32
}

// newCost is the cost of Hash, and of verifying what it returns.
var newCost = Cost{Memory: memoryKiB, Passes: passes, Lanes: lanes, KeyLen: keyLen}

// Cost is the work of verifying a password against p.
func (p Params) Cost() Cost {
	return Cost{Memory: p.Memory, Passes: p.Passes, Lanes: p.Lanes, KeyLen: uint32(len(p.Key))}
}

// kdf counts the Argon2id evaluations of the process (see KDFRuns).
var kdf struct {
	mu   sync.Mutex
	runs uint64
	last Cost
}

// idKey is the one place this package runs Argon2id: it counts the run.
func idKey(password, salt []byte, c Cost) []byte {
	kdf.mu.Lock()
	kdf.runs++
	kdf.last = c
	kdf.mu.Unlock()
	return argon2.IDKey(password, salt, c.Passes, c.Memory, c.Lanes, c.KeyLen)
}

// KDFRuns reports how many Argon2id evaluations this process has made
// (by Hash, Verify and VerifyDummy alike) and the cost of the latest.
//
// It is a test seam, read-only: nothing outside this package can change
// what it reports, and counting costs a mutex beside a KDF run of tens of
// milliseconds. A caller's test reads it before and after a call to show,
// deterministically, which KDF work the call did: for example that every
// failed console sign-in derives exactly one key at the cost of a real
// verification, so that its duration tells nothing (comparing wall-clock
// times instead would pass or fail with the machine's load). The count is
// process-wide: a test that reads it must not run beside another that
// hashes (no t.Parallel).
func KDFRuns() (runs uint64, last Cost) {
	kdf.mu.Lock()
	defer kdf.mu.Unlock()
	return kdf.runs, kdf.last
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
	key := idKey([]byte(password), p.Salt, p.Cost())
	return subtle.ConstantTimeCompare(key, p.Key) == 1, nil
}

// dummy is the hash VerifyDummy verifies against: Hash's parameters
// (encode), a random salt and a random key rather than a derived one, so
// that no password is known to match it and making it runs no KDF (the
// first unknown user's sign-in costs what every other one does).
var dummy = sync.OnceValue(newDummy)

// newDummy makes a dummy hash.
func newDummy() string {
	salt, key := make([]byte, saltLen), make([]byte, keyLen)
	// crypto/rand.Read never returns an error (since Go 1.24 it crashes
	// the program instead).
	_, _ = rand.Read(salt)
	_, _ = rand.Read(key)
	return encode(salt, key)
}

// VerifyDummy runs the same work as Verify against a hash of no real
// password (one Argon2id evaluation at Hash's cost) and reports nothing:
// a sign-in for an unknown user, or one without a login profile, takes as
// long as one with a wrong password.
func VerifyDummy(password string) {
	_, _ = Verify(dummy(), password)
}
