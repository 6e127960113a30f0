package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestCtrlCEndsClientCommandsAsTheAWSCLI: Ctrl-C (SIGINT) in a client
// command ends it as the AWS CLI's KeyboardInterrupt handler does: exit 130
// (128 + SIGINT), a newline on stdout, no error message. Before, a waiter
// printed "Waiter InstanceConnectEndpointAvailable failed: context
// canceled" and exited 255, and open-tunnel exited 0 as if the tunnel had
// ended normally. The server itself still exits 0 on SIGINT (graceful).
func TestCtrlCEndsClientCommandsAsTheAWSCLI(t *testing.T) {
	srv, echoPort := startServerWithEcho(t)

	var vpc struct{ Vpc struct{ VpcId string } }
	srv.mustJSON(t, &vpc, "ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")
	var subnet struct{ Subnet struct{ SubnetId string } }
	srv.mustJSON(t, &subnet, "ec2", "create-subnet", "--vpc-id", vpc.Vpc.VpcId, "--cidr-block", "10.9.1.0/24")
	var eice struct {
		InstanceConnectEndpoint struct{ InstanceConnectEndpointId string }
	}
	srv.mustJSON(t, &eice, "ec2", "create-instance-connect-endpoint", "--subnet-id", subnet.Subnet.SubnetId)
	instance := localInstance(t, srv)

	tests := []struct {
		name string
		args []string
		// ready reads the command's stdout and stderr until it is in the
		// middle of its work, where a user would press Ctrl-C.
		ready func(t *testing.T, stdin io.Writer, stdout, stderr *bufio.Reader)
	}{
		{
			// No agent ever joins this endpoint: the waiter polls until
			// interrupted. --debug logs each response on stderr.
			name: "ec2 wait",
			args: []string{"--debug", "ec2", "wait", "instance-connect-endpoint-available",
				"--instance-connect-endpoint-ids", eice.InstanceConnectEndpoint.InstanceConnectEndpointId, "--delay", "1", "--max-attempts", "100000"},
			ready: func(t *testing.T, _ io.Writer, _, stderr *bufio.Reader) {
				for range 10000 {
					line, err := stderr.ReadString('\n')
					if err != nil {
						t.Fatalf("the waiter's stderr ended before its first response: %v", err)
					}
					if strings.Contains(line, "DEBUG Response") {
						return
					}
				}
				t.Fatal("no response logged in 10,000 lines")
			},
		},
		{
			// A tunnel carrying data (stdin/stdout, as ssh's ProxyCommand).
			name: "open-tunnel",
			args: []string{"ec2-instance-connect", "open-tunnel", "--instance-id", instance, "--remote-port", fmt.Sprint(echoPort)},
			ready: func(t *testing.T, stdin io.Writer, stdout, _ *bufio.Reader) {
				if _, err := io.WriteString(stdin, "ping\n"); err != nil {
					t.Fatal(err)
				}
				if line, err := stdout.ReadString('\n'); err != nil || line != "ping\n" {
					t.Fatalf("echo through the tunnel: %q, %v", line, err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, tc.args...)
			cmd.Env = append(cleanEnv(), srv.env()...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			stdout, stderr := startPiped(t, cmd)
			tc.ready(t, stdin, stdout, stderr)
			restOut, restErr, code := interrupt(t, cmd, stdout, stderr)
			if code != 130 || string(restOut) != "\n" || bytes.Contains(restErr, []byte("canceled")) || bytes.Contains(restErr, []byte("Waiter ")) {
				t.Fatalf("after Ctrl-C: exit %d (want 130), stdout %q (want a newline), stderr %q\n%s", code, restOut, restErr, srv.output())
			}
		})
	}

	// The server is no client command: SIGINT stops it gracefully, exit 0.
	if err := srv.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	if srv.exitErr != nil {
		t.Fatalf("server after SIGINT: %v\n%s", srv.exitErr, srv.output())
	}
}

// startPiped starts cmd with its standard output and error to read.
func startPiped(t *testing.T, cmd *exec.Cmd) (stdout, stderr *bufio.Reader) {
	t.Helper()
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return bufio.NewReader(outPipe), bufio.NewReader(errPipe)
}

// interrupt sends cmd SIGINT (Ctrl-C) and returns what it wrote after
// that and its exit code.
func interrupt(t *testing.T, cmd *exec.Cmd, stdout, stderr io.Reader) (restOut, restErr []byte, code int) {
	t.Helper()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	restOut, _ = io.ReadAll(stdout)
	restErr, _ = io.ReadAll(stderr)
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return restOut, restErr, ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return restOut, restErr, 0
}
