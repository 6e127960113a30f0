package server

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/internal/server/config"
	"github.com/postern/postern/internal/server/endpoints"
)

// TestWelcomeShellLines: the welcome text's shell lines work when pasted
// into a shell as printed, also one where USER is unset: the export line
// puts the running binary's directory on PATH (unless it is there
// already), and the ssh lines name the real user, never "$USER".
func TestWelcomeShellLines(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh on PATH: cannot paste the lines into a shell")
	}
	sh, _ := exec.LookPath("sh")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Dir(exe)
	u, err := user.Current()
	if err != nil {
		t.Fatalf("user.Current: %v", err)
	}
	cases := []struct {
		name     string
		path     string // the server's PATH
		user     string // the server's USER ("" = unset)
		wantPath bool   // the export line sets PATH
	}{
		{name: "USER unset, binary not on PATH", path: "/usr/bin:/bin", wantPath: true},
		{name: "USER set, binary not on PATH", path: "/usr/bin:/bin", user: u.Username, wantPath: true},
		{name: "binary on PATH", path: "/usr/bin:" + binDir + ":/bin", wantPath: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			if tc.user == "" {
				t.Setenv("USER", "")
				os.Unsetenv("USER")
			} else {
				t.Setenv("USER", tc.user)
			}
			s := &Server{
				Config:    config.Server{DataDir: t.TempDir(), Listen: config.Addrs{"127.0.0.1:8443"}, PublicHost: "localhost", Region: "us-east-1"},
				AccountID: "123456789012",
				Local:     endpoints.LocalNetwork{EndpointID: "eice-0123456789abcdef0", InstanceID: "i-0123456789abcdef0"},
			}
			var out bytes.Buffer
			s.PrintWelcome(&out, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443})
			lines := map[string]string{}
			for _, l := range strings.Split(out.String(), "\n") {
				l = strings.TrimSpace(l)
				for _, p := range []string{"export ", "ssh ", "postern ssh "} {
					if strings.HasPrefix(l, p) {
						lines[p] = l
					}
				}
			}
			for _, p := range []string{"export ", "ssh ", "postern ssh "} {
				if lines[p] == "" {
					t.Fatalf("welcome text has no %q line:\n%s", p, out.String())
				}
			}
			if strings.Contains(out.String(), "$USER") {
				t.Errorf("welcome text names $USER:\n%s", out.String())
			}
			// Paste them into a shell without USER, with a PATH of its own.
			script := lines["export "] + "\nprintf '%s\\n' \"$PATH\"\n" +
				"set -- " + strings.TrimPrefix(lines["ssh "], "ssh ") + "\nshift $(($# - 1)); printf '%s\\n' \"$1\"\n" +
				"set -- " + strings.TrimPrefix(lines["postern ssh "], "postern ssh ") + "\nprintf '%s\\n' \"$1\"\n"
			cmd := exec.Command(sh, "-c", script)
			cmd.Env = []string{"PATH=/shell/bin"}
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("the welcome lines fail in sh: %v\nscript:\n%s", err, script)
			}
			res := strings.Split(strings.TrimSpace(string(got)), "\n")
			if len(res) != 3 {
				t.Fatalf("sh printed %q", got)
			}
			wantPATH := "/shell/bin"
			if tc.wantPath {
				wantPATH = binDir + ":/shell/bin"
			}
			if res[0] != wantPATH {
				t.Errorf("PATH after the export line = %q, want %q (line: %s)", res[0], wantPATH, lines["export "])
			}
			wantTarget := u.Username + "@i-0123456789abcdef0"
			for i, l := range []string{lines["ssh "], lines["postern ssh "]} {
				if res[i+1] != wantTarget {
					t.Errorf("%s\n  reaches %q in a shell without USER, want %q", l, res[i+1], wantTarget)
				}
			}
		})
	}
}
