package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWriteFile: the file gets the data and exactly the mode asked (the
// umask does not narrow it, a replaced file's old mode does not stay), a
// leftover "<name>.tmp" (a directory here, so that a writer using that
// fixed name fails) does not get in the way, and no temporary file stays.
func TestWriteFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		existing os.FileMode // 0: no file before
		leftover bool
	}{
		{"new private", 0o600, 0, false},
		{"new public", 0o644, 0, false},
		{"replace narrows", 0o600, 0o644, false},
		{"replace widens", 0o644, 0o600, false},
		{"leftover tmp", 0o600, 0o600, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "key.pem")
			if tc.existing != 0 {
				if err := os.WriteFile(path, []byte("old"), tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			if tc.leftover {
				if err := os.Mkdir(path+".tmp", 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, []byte("new"), tc.mode); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != "new" {
				t.Fatalf("read %q %v", b, err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && st.Mode().Perm() != tc.mode {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), tc.mode)
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if tc.leftover {
				want = 2 // the leftover itself, untouched
			}
			if len(ents) != want {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("directory holds %v", names)
			}
		})
	}
}

// TestWriteFileFails: a directory that cannot be written to is an error
// and the target is left as it was.
func TestWriteFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "key.pem")
	if err := WriteFile(path, []byte("x"), 0o600); err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
}
