package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/postern/postern/internal/util/ownerhint"
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
	defer func() { err = stateDirHint(err, cfg.StateDir) }()
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

// stateDirHint adds to a permission error on the state directory dir
// (or a file of it, or a parent it was to be made in) who owns it when
// that is another user, and what to do (package ownerhint, which says the
// same of the server's data directory). Why: the agent writes its files
// 0600 in a directory it makes 0700, so a state directory stays with the
// user that first ran the agent there (a first `sudo postern
// endpoint-agent`, then a systemd unit with User=; an image run as another
// uid), which otherwise meets a bare "permission denied".
func stateDirHint(err error, dir string) error {
	return ownerhint.Wrap(err, ownerhint.Dir{Path: dir, Noun: "state directory", Program: "agent", Flag: "--state-dir"})
}
