package frontdoor

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCrashOnPanicEndsTheProcess: a panic in a handler that hijacked its
// connection and deferred crashOnPanic ends the process (run in a child
// process of the test binary) with the panic's value, where net/http
// alone would recover it and leave the connection open.
func TestCrashOnPanicEndsTheProcess(t *testing.T) {
	if os.Getenv("POSTERN_TEST_CRASH_CHILD") == "1" {
		crashChild()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a guard against a hang
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestCrashOnPanicEndsTheProcess$")
	cmd.Env = append(os.Environ(), "POSTERN_TEST_CRASH_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ctx.Err() != nil {
		t.Fatalf("the child did not crash (err %v, guard %v):\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), "boom in a hijacked handler") || !strings.Contains(string(out), "raised again") {
		t.Fatalf("the child ended without the panic's message:\n%s", out)
	}
}

// crashChild serves one request whose handler hijacks the connection and
// panics, then reads from the connection: net/http recovering the panic
// would leave that read waiting until the parent's guard kills the child.
func crashChild() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer crashOnPanic()
		_ = conn
		panic("boom in a hijacked handler")
	}), ErrorLog: nil}
	go func() { _ = srv.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		panic(err)
	}
	_, _ = bufio.NewReader(c).ReadByte() // the hijacked connection never answers
	select {}
}
