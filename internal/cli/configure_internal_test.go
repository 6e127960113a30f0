package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFetchCAChecksName: configure --server accepts the CA only when the
// server's certificate is valid under it for the name in --server
// (httptest's certificate is its own CA, for 127.0.0.1 and example.com).
func TestFetchCAChecksName(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	if _, err := fetchCA(context.Background(), addr, "127.0.0.1"); err != nil {
		t.Fatalf("name on the certificate refused: %v", err)
	}
	_, err := fetchCA(context.Background(), addr, "localhost")
	if err == nil || !strings.Contains(err.Error(), "not valid for localhost") {
		t.Fatalf("name not on the certificate: err %v, want a refusal naming localhost", err)
	}
}

// TestWriteINIReplaces: writeINI keeps the other profiles, leaves the
// file 0600 even when it was wider, and leaves no temporary file.
func TestWriteINIReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials")
	if err := os.WriteFile(path, []byte("[other]\naws_access_key_id = A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeINI(path, "dev", "aws_access_key_id", "B"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "[other]\naws_access_key_id = A\n[dev]\naws_access_key_id = B\n"; string(b) != want {
		t.Errorf("file %q, want %q", b, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode %o, want 600", m)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left in the folder: %v", ents)
	}
}

// TestWriteINIOneLine: a value, name or profile with a line break, or a
// name or profile that would read back as a section header, a comment or
// another key, is refused and nothing is written.
func TestWriteINIOneLine(t *testing.T) {
	tests := []struct{ name, sect, key, value string }{
		{"value spans lines", "default", "region", "x\n[profile evil]\nendpoint_url = https://evil"},
		{"value ends in CR", "default", "output", "json\r"},
		{"name spans lines", "default", "re\ngion", "x"},
		{"profile spans lines", "profile a]\n[b", "region", "x"},
		{"name is a section header", "default", "[profile evil]", "x"},
		{"name holds =", "default", "endpoint_url=https://evil", "x"},
		{"name is empty", "default", "", "x"},
		{"name is a comment", "default", "#region", "x"},
		{"name with a space", "default", " region", "x"},
		{"profile holds ]", "profile a]", "region", "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := writeINI(path, tc.sect, tc.key, tc.value); err == nil {
				t.Fatalf("writeINI(%q, %q, %q) was accepted", tc.sect, tc.key, tc.value)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the file was written: %v", err)
			}
		})
	}
}

// TestWriteINIFollowsLink: a config file that is a symbolic link stays
// one; the file it names gets the setting.
func TestWriteINIFollowsLink(t *testing.T) {
	dir := t.TempDir()
	real, link := filepath.Join(dir, "real"), filepath.Join(dir, "config")
	if err := os.WriteFile(real, []byte("[default]\nregion = a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := writeINI(link, "default", "output", "json"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(real); string(b) != "[default]\nregion = a\noutput = json\n" {
		t.Errorf("linked file %q", b)
	}
}
