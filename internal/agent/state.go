package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/postern/postern/internal/wire/tunnelproto"
)

// lockFile, in the state directory, is held by the agent that runs from it.
const lockFile = "agent.lock"

// ErrStateDirInUse is matched (errors.Is) by a *StateDirInUseError.
var ErrStateDirInUse = errors.New("agent: the state directory is in use by another endpoint agent")

// StateDirInUseError: another process runs an agent from the state
// directory (PID 0 when it could not be read).
type StateDirInUseError struct {
	Dir string
	PID int
}

func (e *StateDirInUseError) Error() string {
	who := "another endpoint agent"
	if e.PID > 0 {
		who += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("the state directory %s is in use by %s: two agents with one identity would disconnect each other; "+
		"stop that one, or run this one with its own --state-dir and a new join token", e.Dir, who)
}

func (e *StateDirInUseError) Is(target error) bool { return target == ErrStateDirInUse }

// ErrOtherEndpoint is matched (errors.Is) by a *OtherEndpointError.
var ErrOtherEndpoint = errors.New("agent: the join token is for another endpoint than the one this agent serves")

// OtherEndpointError: a join token for one endpoint was given to an agent
// whose state directory already holds an identity for another.
type OtherEndpointError struct {
	Dir                   string
	Joined, TokenEndpoint string
	AgentID               string
}

func (e *OtherEndpointError) Error() string {
	return fmt.Sprintf("the join token is for endpoint %s, but the state directory %s already holds agent %s of endpoint %s; "+
		"to serve %s, run another agent with its own --state-dir and this token (or, to move this agent, revoke it "+
		"and remove %s first)", e.TokenEndpoint, e.Dir, e.AgentID, e.Joined, e.TokenEndpoint, e.Dir)
}

func (e *OtherEndpointError) Is(target error) bool { return target == ErrOtherEndpoint }

// LoadOrJoin returns the identity in cfg.StateDir, joining with token when
// there is none yet; joined reports that it redeemed the token (or tried:
// err is then the join's). With no identity and no token it returns
// ErrNoIdentity. A token given to an agent that has joined already is not
// redeemed: one for the endpoint the agent serves is ignored (unused, it
// expires), one for another endpoint is an *OtherEndpointError rather than
// silently ignored, and one that cannot be read an error. The
// caller should hold LockStateDir.
func LoadOrJoin(ctx context.Context, token string, cfg Config) (id *Identity, joined bool, err error) {
	defer func() { err = StateDirOwnerHint(err, cfg.StateDir) }()
	id, err = LoadIdentity(cfg.StateDir)
	switch {
	case errors.Is(err, ErrNoIdentity):
		if token == "" {
			return nil, false, err
		}
		id, err = Join(ctx, token, cfg)
		return id, true, err
	case err != nil:
		return nil, false, err
	case token == "":
		return id, false, nil
	}
	tok, err := tunnelproto.ParseJoinToken(token)
	if err != nil {
		return nil, false, fmt.Errorf("agent: the join token cannot be read: %w", err)
	}
	if tok.EndpointID != id.EndpointID {
		return nil, false, &OtherEndpointError{Dir: cfg.StateDir, Joined: id.EndpointID, TokenEndpoint: tok.EndpointID, AgentID: id.AgentID}
	}
	return id, false, nil
}

// StateDirOwnerHint adds to a permission error on a file of the state
// directory dir (an *fs.PathError) who owns that file, or the nearest of
// its directories this process can look at, when that is not this
// process's user, and what to do; other errors, and errors that say so
// already, it returns as they are. Why: the agent writes its files 0600 in
// a directory it makes 0700, so a state directory stays with the user that
// first ran the agent there (a first `sudo postern endpoint-agent`, then a
// systemd unit with User=; a container image run as another UID), which
// otherwise meets a bare "permission denied". The server says the same of
// its data directory.
func StateDirOwnerHint(err error, dir string) error {
	var pe *fs.PathError
	var told *ownerHintError
	if !errors.Is(err, fs.ErrPermission) || !errors.As(err, &pe) || errors.As(err, &told) {
		return err
	}
	stop := filepath.Dir(filepath.Clean(dir)) // look no higher than dir's parent
	inside := func(path string) bool { return path != stop || path == filepath.Clean(dir) }
	for path := filepath.Clean(pe.Path); ; path = filepath.Dir(path) {
		if fi, serr := os.Stat(path); serr == nil {
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok || int(st.Uid) == os.Geteuid() {
				return err
			}
			return &ownerHintError{err: err, path: path, dir: dir, owner: int(st.Uid), uid: os.Geteuid(), outside: !inside(path)}
		}
		if path == stop || filepath.Dir(path) == path {
			return err
		}
	}
}

// ownerHintError is a permission error with the owner of the file it met
// (StateDirOwnerHint).
type ownerHintError struct {
	err        error
	path, dir  string
	owner, uid int
	// outside: path is the directory dir is to be made in, not dir or
	// one of its files.
	outside bool
}

func (e *ownerHintError) Error() string {
	if e.outside {
		return fmt.Sprintf("%v (%s belongs to uid %d and this agent runs as uid %d: make the state directory for uid %d "+
			"(install -d -o %d -m 700 %s), or choose another --state-dir)", e.err, e.path, e.owner, e.uid, e.uid, e.uid, e.dir)
	}
	return fmt.Sprintf("%v (%s belongs to uid %d and this agent runs as uid %d: a state directory stays with the user "+
		"that wrote it first; run the agent as uid %d, or give the directory and its files to uid %d: chown -R %d %s)",
		e.err, e.path, e.owner, e.uid, e.owner, e.uid, e.uid, e.dir)
}

func (e *ownerHintError) Unwrap() error { return e.err }
