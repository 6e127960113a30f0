//go:build !postern_client

package cli_test

import (
	"context"
	"github.com/postern/postern/internal/testutil/syncbuf"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/agent"
	"github.com/postern/postern/internal/cli"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

// syncBuffer is a buffer safe for the goroutines writing to it and the test.
type syncBuffer = syncbuf.Buffer

// agentRun is a `postern endpoint-agent` run in the test's process.
type agentRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	code   int
	stderr syncBuffer
}

func runAgentCLI(t *testing.T, limit time.Duration, args ...string) *agentRun {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	r := &agentRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = cli.Main(ctx, append([]string{"endpoint-agent", "--drain-timeout", "100ms"}, args...), strings.NewReader(""), &syncBuffer{}, &r.stderr)
	}()
	t.Cleanup(func() { r.cancel(); <-r.done })
	return r
}

// wait returns the exit code, or fails when the command still runs after
// limit (it then goes on until its own time limit).
func (r *agentRun) wait(t *testing.T, limit time.Duration, what string) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(limit):
		t.Fatalf("%s: still running after %v; stderr:\n%s", what, limit, r.stderr.String())
		return 0
	}
}

// A newcomer's mistakes with `postern endpoint-agent`: a second agent on
// the state directory of a running one (the default --state-dir, say)
// refuses to start and names the running one, instead of the two taking
// each other's link in turns; a join token for another endpoint given to
// an agent that joined already is refused with what to do, instead of
// being ignored.
func TestEndpointAgentStateDir(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	_, _, ep1, _ := e.Network("10.40.0.0/16", "10.40.1.0/24")
	_, _, ep2, _ := e.Network("10.41.0.0/16", "10.41.1.0/24")
	dir := filepath.Join(t.TempDir(), "agent")

	// Time limits and waits are guards against a hang, far above what
	// the agents take: a starved 2-core CI machine under -race may take
	// more than 10 s over a start or an exit.
	first := runAgentCLI(t, 5*time.Minute, "--state-dir", dir, "--join-token", e.JoinToken(ep1))
	deadline := time.Now().Add(time.Minute)
	for len(e.Server.Relay().Connected(ep1)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the first agent did not connect; stderr:\n%s", first.stderr.String())
		}
		select {
		case <-first.done:
			t.Fatalf("the first agent exited %d:\n%s", first.code, first.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	id, err := agent.LoadIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("second agent on the same state directory", func(t *testing.T) {
		second := runAgentCLI(t, 2*time.Minute, "--state-dir", dir)
		code := second.wait(t, time.Minute, "a second agent on a state directory in use")
		msg := second.stderr.String()
		if code != cli.ExitConfig || !strings.Contains(msg, "in use") || !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) ||
			!strings.Contains(msg, "--state-dir") {
			t.Fatalf("exit %d, stderr %q; want %d and an error naming the running agent (pid %d) and --state-dir", code, msg, cli.ExitConfig, os.Getpid())
		}
		// The first agent kept its link.
		if c := e.Server.Relay().Connected(ep1); len(c) != 1 || c[0].AgentID != id.AgentID {
			t.Fatalf("connected after the second start: %+v", c)
		}
	})

	first.cancel()
	if code := first.wait(t, time.Minute, "the first agent after SIGTERM"); code != 0 {
		t.Fatalf("the first agent exited %d:\n%s", code, first.stderr.String())
	}

	t.Run("join token of another endpoint", func(t *testing.T) {
		tok2 := e.JoinToken(ep2)
		r := runAgentCLI(t, 2*time.Minute, "--state-dir", dir, "--join-token", tok2)
		code := r.wait(t, time.Minute, "an agent of "+ep1+" given a token of "+ep2)
		msg := r.stderr.String()
		for _, want := range []string{ep1, ep2, id.AgentID, "--state-dir"} {
			if code != cli.ExitConfig || !strings.Contains(msg, want) {
				t.Fatalf("exit %d, stderr %q; want %d and an error naming %q", code, msg, cli.ExitConfig, want)
			}
		}
		// The token was not used: a new agent joins ep2 with it.
		if _, err := agent.Join(context.Background(), tok2, agent.Config{StateDir: t.TempDir()}); err != nil {
			t.Fatalf("the refused token no longer works: %v", err)
		}
	})

	t.Run("join token of its own endpoint", func(t *testing.T) {
		r := runAgentCLI(t, 2*time.Minute, "--state-dir", dir, "--join-token", e.JoinToken(ep1))
		e.WaitConnected(id.AgentID, time.Minute)
		r.cancel()
		if code := r.wait(t, time.Minute, "the agent after SIGTERM"); code != 0 {
			t.Fatalf("exit %d:\n%s", code, r.stderr.String())
		}
	})
}
