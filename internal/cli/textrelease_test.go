//go:build linux

package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/postern/postern/internal/util/textpages"
)

// TestReleaseMemoryReleasesBinaryPages: releaseMemory, the idle client's
// release, also takes the pages of the binary that a tunnel ran out of the
// process's resident memory (at least a quarter of them: what runs on at
// once, and what shares its page-cache piece, comes back), and the client
// still works after it: a second tunnel, through the same code, carries
// its bytes as the first did, and what the process wrote before (the
// first tunnel's output, a heap value) reads back the same.
func TestReleaseMemoryReleasesBinaryPages(t *testing.T) {
	// The tunnel server: a real TLS server that echoes the tunnel's first
	// message, then closes.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/openTunnel" {
			http.NotFound(w, r)
			return
		}
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		msg, err := wsutil.ReadClientBinary(conn)
		if err != nil {
			return
		}
		_ = wsutil.WriteServerBinary(conn, msg)
		_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	}))
	srv.StartTLS()
	defer srv.Close()
	ca := isolatedAWSEnv(t, "AKIDTEXTRELEASE", srv.Certificate())
	addr := srv.Listener.Addr().String()
	tunnel := func(in string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var stdout, stderr strings.Builder
		args := []string{"--region", "us-east-1", "--endpoint-url", "https://" + addr, "--ca-bundle", ca,
			"ec2-instance-connect", "open-tunnel", "--private-ip-address", "10.0.0.5", "--instance-connect-endpoint-id", "eice-1",
			"--instance-connect-endpoint-dns-name", addr}
		if code := Main(ctx, args, strings.NewReader(in), &stdout, &stderr); code != 0 {
			t.Fatalf("open-tunnel: exit %d: %s", code, stderr.String())
		}
		return stdout.String()
	}

	first := tunnel("before the release")
	kept := bytes.Repeat([]byte{0x5a}, 1<<16)
	buf := make([]byte, 1<<20)
	before := resident(t, buf)
	releaseMemory()
	after := resident(t, buf)
	t.Logf("the binary's resident pages: %d KiB before releaseMemory, %d after", before, after)
	if before < 1024 {
		t.Fatalf("the binary has %d KiB resident before the release: are its mappings found?", before)
	}
	if after > before*3/4 {
		t.Errorf("the binary's resident pages went from %d KiB to %d over releaseMemory, want at most three quarters", before, after)
	}

	if second := tunnel("after the release"); first != "before the release" || second != "after the release" {
		t.Errorf("the tunnels carried %q (before the release) and %q (after)", first, second)
	}
	if !bytes.Equal(kept, bytes.Repeat([]byte{0x5a}, 1<<16)) {
		t.Error("a heap value written before the release reads otherwise after it")
	}
}

// resident is the binary's resident memory, in KiB, in its read-only
// mappings (textpages.Resident: found by path, smaps read into buf).
func resident(t *testing.T, buf []byte) int64 {
	t.Helper()
	kib, err := textpages.Resident(buf)
	if err != nil {
		t.Fatal(err)
	}
	return kib
}
