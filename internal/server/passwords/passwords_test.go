package passwords

import (
	"errors"
	"strings"
	"sync"
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

// TestKDFWork: Hash, Verify and VerifyDummy each run Argon2id exactly
// once, VerifyDummy (first call included) at Hash's cost, and a malformed
// hash runs none; the dummy hash has Hash's parameters and is made
// without the KDF. KDFRuns is what callers' tests rely on to show that
// every failed sign-in costs the same, without measuring time.
func TestKDFWork(t *testing.T) {
	h, err := Hash("Correct-Horse-9")
	if err != nil {
		t.Fatal(err)
	}
	hp, err := Parse(h)
	if err != nil {
		t.Fatal(err)
	}
	want := Cost{Memory: 19 * 1024, Passes: 2, Lanes: 1, KeyLen: 32}
	if hp.Cost() != want || len(hp.Salt) != saltLen {
		t.Fatalf("Hash's cost %+v (salt %d bytes), want %+v", hp.Cost(), len(hp.Salt), want)
	}

	// The dummy hash: Hash's parameters and salt length, random, no KDF.
	runs, _ := KDFRuns()
	d1, d2 := newDummy(), newDummy()
	if after, _ := KDFRuns(); after != runs {
		t.Fatalf("making a dummy hash ran the KDF %d times", after-runs)
	}
	dp, err := Parse(d1)
	if err != nil {
		t.Fatalf("dummy hash %q: %v", d1, err)
	}
	if dp.Cost() != hp.Cost() || len(dp.Salt) != len(hp.Salt) || dp.Version != hp.Version {
		t.Fatalf("dummy hash %q has cost %+v, Hash %+v", d1, dp.Cost(), hp.Cost())
	}
	if d1 == d2 {
		t.Fatal("two dummy hashes are equal: not random")
	}

	dummy = sync.OnceValue(newDummy) // as in a fresh process: the next VerifyDummy is the first
	cheap := "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
	cases := []struct {
		name     string
		call     func()
		wantRuns uint64
		wantCost Cost
	}{
		{"VerifyDummy, first call", func() { VerifyDummy("wrong") }, 1, want},
		{"VerifyDummy again", func() { VerifyDummy("wrong") }, 1, want},
		{"VerifyDummy, empty password", func() { VerifyDummy("") }, 1, want},
		{"Verify, wrong password", func() { _, _ = Verify(h, "wrong") }, 1, want},
		{"Verify, right password", func() { _, _ = Verify(h, "Correct-Horse-9") }, 1, want},
		{"Verify, the stored hash's own cost", func() { _, _ = Verify(cheap, "x") }, 1, Cost{Memory: 8, Passes: 1, Lanes: 1, KeyLen: 16}},
		{"Verify, malformed hash", func() { _, _ = Verify("$argon2id$v=19$m=19456", "x") }, 0, Cost{}},
		{"Hash", func() { _, _ = Hash("x") }, 1, want},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := KDFRuns()
			tc.call()
			after, last := KDFRuns()
			if after-before != tc.wantRuns {
				t.Fatalf("ran the KDF %d times, want %d", after-before, tc.wantRuns)
			}
			if tc.wantRuns > 0 && last != tc.wantCost {
				t.Fatalf("KDF cost %+v, want %+v", last, tc.wantCost)
			}
		})
	}
}
