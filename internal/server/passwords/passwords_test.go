package passwords

import (
	"errors"
	"strings"
	"testing"
)

// TestHashVerify: a hash verifies its password only, hashes are salted,
// and the PHC string names its parameters.
func TestHashVerify(t *testing.T) {
	h, err := Hash("Correct-Horse-9")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "Correct") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := Hash("Correct-Horse-9")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"Correct-Horse-9", true}, {"correct-horse-9", false}, {"Correct-Horse-9 ", false}, {"", false}} {
		ok, err := Verify(h, tc.pw)
		if err != nil || ok != tc.ok {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.ok)
		}
	}
	VerifyDummy("anything") // runs, reveals nothing
}

// TestParseRejects: malformed or hostile PHC strings are ErrMalformed,
// never a panic or an unbounded allocation.
func TestParseRejects(t *testing.T) {
	good, _ := Hash("x")
	parts := strings.Split(good, "$")
	bad := []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=4194304,t=2,p=1$" + parts[4] + "$" + parts[5], // 4 GiB
		"$argon2id$v=19$m=19456,t=0,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1,x=3$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$" + parts[5] + "$extra",
	}
	for _, b := range bad {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", b, err)
		}
		if ok, err := Verify(b, "x"); ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v", b, ok, err)
		}
	}
}

// FuzzParse: Parse never panics, and whatever it accepts is within the
// bounds Verify relies on.
func FuzzParse(f *testing.F) {
	good, _ := Hash("x")
	f.Add(good)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if p.Memory > maxMemoryKiB || p.Passes < 1 || p.Passes > maxPasses || p.Lanes < 1 || p.Lanes > maxLanes ||
			len(p.Key) > maxKeyLen || len(p.Salt) > maxSaltLen || p.Memory < 8*uint32(p.Lanes) {
			t.Fatalf("Parse accepted out-of-bounds parameters %+v", p)
		}
	})
}
