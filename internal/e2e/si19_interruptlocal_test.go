package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCtrlCLocalPortMidTransferNoClosureReason: Ctrl-C (SIGINT) in
// `open-tunnel --local-port` while a connection carries data ends the
// command as the AWS CLI does (exit 130) without a "Websocket Closure
// Reason" or any other error line for the tunnel: the client closed it
// itself, the server was not lost. Before, the client reported its own
// close as "[1] Websocket Closure Reason: The connection to the Postern
// server was lost: … use of closed network connection".
func TestCtrlCLocalPortMidTransferNoClosureReason(t *testing.T) {
	srv, echoPort := startServerWithEcho(t)
	instance := localInstance(t, srv)

	// The client listens on a port the kernel just had free; another
	// process may take it first: then the client exits and the next
	// attempt takes another.
	var (
		cmd            *exec.Cmd
		stdout, stderr *bufio.Reader
		port           int
	)
	for attempt := 0; cmd == nil; attempt++ {
		if attempt == 3 {
			t.Fatal("open-tunnel --local-port did not listen in 3 attempts")
		}
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		c := exec.Command(binPath, "ec2-instance-connect", "open-tunnel", "--instance-id", instance,
			"--remote-port", strconv.Itoa(echoPort), "--local-port", strconv.Itoa(port))
		c.Env = append(cleanEnv(), srv.env()...)
		o, e := startPiped(t, c)
		line, err := o.ReadString('\n')
		if err == nil && line == fmt.Sprintf("Listening for connections on port %d.\n", port) {
			cmd, stdout, stderr = c, o, e
			t.Cleanup(func() { _ = c.Process.Kill() })
			break
		}
		rest, _ := io.ReadAll(e)
		_ = c.Wait()
		t.Logf("attempt %d: stdout %q, stderr %q", attempt, line, rest)
	}

	conn, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if line, err := stdout.ReadString('\n'); err != nil || line != "[1] Accepted new tcp connection, opening websocket tunnel.\n" {
		t.Fatalf("after the local connection: %q, %v", line, err)
	}
	// Bytes flow both ways until the client closes the connection: one
	// goroutine writes (at most 4 GiB), another reads the echo and says
	// when 4 MiB came back.
	go func() {
		buf := make([]byte, 64<<10)
		for range 1 << 16 {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	flowing := make(chan struct{})
	var got atomic.Int64
	go func() {
		buf := make([]byte, 64<<10)
		signalled := false
		for {
			n, err := conn.Read(buf)
			if got.Add(int64(n)) >= 4<<20 && !signalled {
				signalled = true
				close(flowing)
			}
			if err != nil {
				if !signalled {
					close(flowing)
				}
				return
			}
		}
	}()
	<-flowing
	if got.Load() < 4<<20 {
		t.Fatalf("the echo ended after %d bytes", got.Load())
	}
	restOut, restErr, code := interrupt(t, cmd, stdout, stderr)
	// What the AWS CLI's KeyboardInterrupt leaves (a newline, exit 130)
	// and at most the connection's "Closing" line: nothing else.
	rest := strings.Replace(string(restOut), "[1] Closing tcp connection.\n", "", 1)
	if code != 130 || strings.TrimLeft(rest, "\n") != "" || len(restErr) != 0 {
		t.Fatalf("after Ctrl-C mid-transfer: exit %d (want 130), stdout %q (want at most \"[1] Closing tcp connection.\" and a newline), stderr %q\n%s",
			code, restOut, restErr, srv.output())
	}
}
