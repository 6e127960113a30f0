package server

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFileAtomic: the server's key and state files are replaced
// through a temporary file of their own: a leftover "<name>.tmp" (of a
// crash, or a directory of that name) does not make the write fail, as it
// did with the fixed name; the file has exactly the mode asked.
func TestWriteFileAtomic(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		leftover bool
	}{
		{"private key", 0o600, false},
		{"public key", 0o644, false},
		{"leftover tmp", 0o600, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), SignerPubFile)
			if tc.leftover {
				if err := os.Mkdir(path+".tmp", 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeFileAtomic(path, []byte("data"), tc.mode); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
				t.Fatalf("read %q %v", b, err)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != tc.mode {
				t.Fatalf("stat %v %v, want mode %v", st, err, tc.mode)
			}
		})
	}
}
