package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteAtomic: the agent's identity files are replaced through a
// temporary file of their own, of mode stateModes: a leftover
// "<name>.tmp" (of a crash, or a directory of that name) does not make
// the write fail, as it did with the fixed name.
func TestWriteAtomic(t *testing.T) {
	for _, leftover := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), keyFile)
		if leftover {
			if err := os.Mkdir(path+".tmp", 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if err := writeAtomic(path, []byte("key")); err != nil {
			t.Fatalf("leftover %v: %v", leftover, err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "key" {
			t.Fatalf("read %q %v", b, err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != stateModes {
			t.Fatalf("stat %v %v, want mode %v", st, err, os.FileMode(stateModes))
		}
	}
}
