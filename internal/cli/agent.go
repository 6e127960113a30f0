package cli

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"reflect"
	"strconv"

	"github.com/spf13/cobra"
)

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
