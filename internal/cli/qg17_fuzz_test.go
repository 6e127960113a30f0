package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzWriteINI edits arbitrary AWS config and credentials files (files
// users edit by hand) with writeINI and reads them with readINI.
// Properties: a setting writeINI accepts reads back as written (blanks
// around it aside); every other setting of every profile reads as before;
// a refused setting leaves the file as it was.
func FuzzWriteINI(f *testing.F) {
	for _, s := range [][4]string{
		{"", "default", "region", "us-east-1"},
		{"[other]\naws_access_key_id = A\n", "dev", "aws_access_key_id", "B"},
		{"[profile dev]\nregion=eu-west-1\n\n# note = x\n[default]\noutput = json\n", "profile dev", "region", " us-west-2 "},
		{"[default]\r\nregion = us-east-1\r\n; a = b\r\n", "default", "region", "eu-central-1"},
		{"region = x\n[ default ]\n  region  =  y  \nother\n", "default", "output", "text"},
		{"[default]\nregion = a\n[default]\nregion = b\n", "default", "region", "c"},
		{"[dev]\nk = 1\n", " dev", "k", "2"},
		{"[a]\n", "a", "k=v", "x"},
		{"[a]\n", "a]\n[b", "k", "x"},
		{"[\x85\x00\xff\xf7\xb2\n]a", "a\xe8\x03\x00\x00", "k\v\x95SZ\xab\x0eO\xf3\f", "\x9a"}, // found by this target: a name ending in '\f'
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	// One file per fuzzing process, rewritten for each input (inputs run
	// one at a time in a process), in memory where there is a tmpfs:
	// writeINI syncs the file, which on a busy disk costs 10-100 ms an
	// input and would leave a 10 s run only its seeds.
	dir := f.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "qg17ini"); err == nil {
		f.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	path := filepath.Join(dir, "config")
	f.Fuzz(func(t *testing.T, file, sect, key, value string) {
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		before := qg17ReadAll(path, sect)
		if err := writeINI(path, sect, key, value); err != nil {
			if b, _ := os.ReadFile(path); string(b) != file {
				t.Fatalf("writeINI(%q, %q, %q) refused (%v) but changed the file to %q", sect, key, value, err, b)
			}
			return
		}
		b, _ := os.ReadFile(path)
		if got, ok := readINI(path, sect)[key]; !ok || got != strings.TrimSpace(value) {
			t.Fatalf("in %q, writeINI(%q, %q, %q) made %q, which reads %q (%v)", file, sect, key, value, b, got, ok)
		}
		for s, kv := range before {
			after := readINI(path, s)
			for k, v := range kv {
				if s == sect && k == key {
					continue
				}
				if after[k] != v {
					t.Fatalf("in %q, writeINI(%q, %q, %q) made %q: [%s] %s reads %q, was %q", file, sect, key, value, b, s, k, after[k], v)
				}
			}
		}
	})
}

// qg17ReadAll reads sect and the first 32 other sections of the file at
// path as readINI reads each (a read per section: more would make the
// check quadratic in the input).
func qg17ReadAll(path, sect string) map[string]map[string]string {
	b, _ := os.ReadFile(path)
	out := map[string]map[string]string{sect: readINI(path, sect)}
	for _, line := range strings.Split(string(b), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") && len(out) <= 32 {
			if s := strings.TrimSpace(l[1 : len(l)-1]); out[s] == nil {
				out[s] = readINI(path, s)
			}
		}
	}
	return out
}
