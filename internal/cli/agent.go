package cli

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/postern/postern/internal/agent"
)

// defaultAgentStateDir is where an agent keeps its identity.
func defaultAgentStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/postern/agent"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "postern", "agent")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "postern-agent"
	}
	return filepath.Join(home, ".local", "state", "postern", "agent")
}

func endpointAgentCommand(env *Env) *cobra.Command {
	var cfg agent.Config
	var token, level string
	cmd := actionCommand("endpoint-agent", "Run an endpoint agent: serve an Instance Connect Endpoint from inside its private network", func(ctx context.Context) error {
		logger, _, err := newLogger(env.Stderr, level)
		if err != nil {
			return err
		}
		cfg.Logger = logger
		cfg.Version = Version
		if token == "" {
			token = os.Getenv("POSTERN_JOIN_TOKEN")
		}
		// One agent per state directory: two with one identity would
		// take each other's link in turns.
		unlock, err := agent.LockStateDir(cfg.StateDir)
		if err != nil {
			return &exitError{code: ExitConfig, msg: "postern endpoint-agent: " + err.Error()}
		}
		defer unlock()
		id, joined, err := agent.LoadOrJoin(ctx, token, cfg)
		switch {
		case errors.Is(err, agent.ErrNoIdentity):
			return usageErr("this agent has not joined an endpoint yet: pass --join-token (from `postern ec2 create-endpoint-join-token`)")
		case errors.Is(err, agent.ErrOtherEndpoint):
			return &exitError{code: ExitConfig, msg: "postern endpoint-agent: " + err.Error()}
		case err != nil && joined:
			return &exitError{code: ExitOther, msg: "postern endpoint-agent: join: " + err.Error()}
		case err != nil:
			return &exitError{code: ExitConfig, msg: "postern endpoint-agent: " + err.Error()}
		case joined:
			fmt.Fprintf(env.Stderr, "Joined endpoint %s as %s; identity saved in %s\n", id.EndpointID, id.AgentID, cfg.StateDir)
		case token != "":
			cfg.Logger.Info("already joined this endpoint; the join token was not used", "agent", id.AgentID, "endpoint", id.EndpointID)
		}
		if err := agent.New(id, cfg).Run(ctx); err != nil {
			return &exitError{code: ExitOther, msg: "postern endpoint-agent: " + err.Error()}
		}
		return nil
	})
	cmd.Long = `Run an endpoint agent inside a private network. It dials out to the Postern server (no inbound
port), joins an endpoint once with a join token, and then serves tunnels to the network's servers.

  postern ec2 create-endpoint-join-token --instance-connect-endpoint-id eice-…   # on an admin machine
  postern endpoint-agent --join-token PJT1.…                                     # in the private network

The identity it receives is kept in --state-dir; later starts need no token. One agent runs per
--state-dir (it is locked while the agent runs); to serve another endpoint from the same host, run
another agent with its own --state-dir and that endpoint's token. SIGTERM drains: no new tunnels,
open ones may finish for --drain-timeout.`
	f := cmd.Flags()
	f.StringVar(&token, "join-token", "", "join token (or POSTERN_JOIN_TOKEN); needed only the first time")
	f.StringVar(&cfg.StateDir, "state-dir", defaultAgentStateDir(), "where the agent keeps its key and identity")
	f.StringVar(&cfg.Name, "name", "", "the agent's name as operators see it (default: host name)")
	f.BoolVar(&cfg.AllowHost, "allow-host-addresses", false, "allow tunnels to this host's own addresses")
	f.BoolVar(&cfg.AllowLoopback, "allow-loopback", false, "allow tunnels to this host's loopback addresses (if the VPC contains them)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", 30*time.Second, "how long open tunnels may go on after SIGTERM")
	f.DurationVar(&cfg.DialTimeout, "dial-timeout", 10*time.Second, "how long to wait for a target to accept")
	f.StringVar(&cfg.KeysListen, "keys-listen", "", "serve pushed SSH keys to the network's instance helpers on HOST:PORT (TLS)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// postern's agent actions print JSON like the AWS CLI's output.

type joinTokenOut struct {
	JoinToken                 string `xml:"joinToken" json:"JoinToken"`
	JoinTokenID               string `xml:"joinTokenId" json:"JoinTokenId"`
	InstanceConnectEndpointID string `xml:"instanceConnectEndpointId" json:"InstanceConnectEndpointId"`
	ExpiresAt                 string `xml:"expiresAt" json:"ExpiresAt"`
	Server                    string `xml:"server" json:"Server"`
}

type agentOut struct {
	AgentID                   string `xml:"agentId" json:"AgentId"`
	InstanceConnectEndpointID string `xml:"instanceConnectEndpointId" json:"InstanceConnectEndpointId"`
	Name                      string `xml:"name" json:"Name,omitempty"`
	State                     string `xml:"state" json:"State"`
	Embedded                  bool   `xml:"embedded" json:"Embedded"`
	Address                   string `xml:"address" json:"Address,omitempty"`
	Version                   string `xml:"version" json:"Version,omitempty"`
	ConnectedSince            string `xml:"connectedSince" json:"ConnectedSince,omitempty"`
	LastConnectedAt           string `xml:"lastConnectedAt" json:"LastConnectedAt,omitempty"`
	Tunnels                   int    `xml:"tunnels" json:"Tunnels"`
	CreatedAt                 string `xml:"createdAt" json:"CreatedAt"`
	CreatedBy                 string `xml:"createdBy" json:"CreatedBy,omitempty"`
	RevokedAt                 string `xml:"revokedAt" json:"RevokedAt,omitempty"`
	PreserveClientIP          *bool  `xml:"preserveClientIp" json:"PreserveClientIp,omitempty"`
	PreserveClientIPMessage   string `xml:"preserveClientIpMessage" json:"PreserveClientIpMessage,omitempty"`
	ProxyProtocolV2           *bool  `xml:"proxyProtocolV2" json:"ProxyProtocolV2,omitempty"`
}

// posternAction calls a Postern EC2 action and prints its result as the
// AWS CLI prints an API's (--output, --query).
func posternAction(ctx context.Context, env *Env, action string, params url.Values, out any, printed any) error {
	body, err := callQuery(ctx, env, action, params)
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(body, out); err != nil {
		return &exitError{code: ExitOther, msg: fmt.Sprintf("%s: unexpected answer: %v", action, err)}
	}
	b, err := json.Marshal(printed)
	if err != nil {
		return err
	}
	v, err := fromJSON(b)
	if err != nil {
		return err
	}
	return printResult(env.Stdout, env.g, action, v)
}

func createJoinTokenCommand(env *Env) *cobra.Command {
	var id string
	var ttl int
	cmd := actionCommand("create-endpoint-join-token", "Make a single-use, short-lived token for a new endpoint agent (Postern action)", func(ctx context.Context) error {
		p := url.Values{"InstanceConnectEndpointId": {id}}
		if ttl > 0 {
			p.Set("ExpiresInSeconds", strconv.Itoa(ttl))
		}
		var out joinTokenOut
		return posternAction(ctx, env, "CreateEndpointJoinToken", p, &out, &out)
	})
	cmd.Flags().StringVar(&id, "instance-connect-endpoint-id", "", "the endpoint the agent will serve (required)")
	cmd.Flags().IntVar(&ttl, "expires-in-seconds", 0, "the token's lifetime (60-86400; default 900)")
	return withAPIInput(cmd, apiInput{service: "ec2", op: "CreateEndpointJoinToken", in: reflect.TypeFor[createEndpointJoinTokenInput](),
		out: reflect.TypeFor[joinTokenOut](), required: []string{"InstanceConnectEndpointId"}})
}

// The input structures of Postern's EC2 actions (for --cli-input-json and
// --generate-cli-skeleton): the API's member names, in its order.
type (
	createEndpointJoinTokenInput struct {
		InstanceConnectEndpointId *string
		ExpiresInSeconds          *int32
	}
	describeEndpointAgentsInput struct {
		InstanceConnectEndpointId *string
	}
	revokeEndpointAgentInput struct {
		AgentId *string
	}
)

// The outputs of DescribeEndpointAgents and RevokeEndpointAgent, as
// printed.
type (
	describeEndpointAgentsOutput struct {
		EndpointAgents *[]agentOut `json:"EndpointAgents"`
	}
	revokeEndpointAgentOutput struct {
		Return        *bool     `json:"Return"`
		EndpointAgent *agentOut `json:"EndpointAgent"`
	}
)

func describeAgentsCommand(env *Env) *cobra.Command {
	var id string
	cmd := actionCommand("describe-endpoint-agents", "List endpoint agents: id, address, version, connected since, tunnels (Postern action)", func(ctx context.Context) error {
		p := url.Values{}
		if id != "" {
			p.Set("InstanceConnectEndpointId", id)
		}
		var out struct {
			Agents []agentOut `xml:"endpointAgentSet>item"`
		}
		printed := describeEndpointAgentsOutput{&out.Agents}
		out.Agents = []agentOut{}
		return posternAction(ctx, env, "DescribeEndpointAgents", p, &out, &printed)
	})
	cmd.Flags().StringVar(&id, "instance-connect-endpoint-id", "", "only this endpoint's agents")
	return withAPIInput(cmd, apiInput{service: "ec2", op: "DescribeEndpointAgents", in: reflect.TypeFor[describeEndpointAgentsInput](),
		out: reflect.TypeFor[describeEndpointAgentsOutput]()})
}

func revokeAgentCommand(env *Env) *cobra.Command {
	var id string
	cmd := actionCommand("revoke-endpoint-agent", "Revoke an endpoint agent: its link and tunnels close, it can never reconnect (Postern action)", func(ctx context.Context) error {
		var out struct {
			Return bool     `xml:"return"`
			Agent  agentOut `xml:"endpointAgent"`
		}
		printed := revokeEndpointAgentOutput{&out.Return, &out.Agent}
		return posternAction(ctx, env, "RevokeEndpointAgent", url.Values{"AgentId": {id}}, &out, &printed)
	})
	cmd.Flags().StringVar(&id, "agent-id", "", "the agent (eni-…) to revoke (required)")
	return withAPIInput(cmd, apiInput{service: "ec2", op: "RevokeEndpointAgent", in: reflect.TypeFor[revokeEndpointAgentInput](),
		out: reflect.TypeFor[revokeEndpointAgentOutput](), required: []string{"AgentId"}})
}
