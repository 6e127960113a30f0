package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
)

// CallJSON sends a JSON 1.1 action the SDK does not know (Postern's own),
// signed with the SDK's SigV4 signer, and returns the response body or an
// error that apiError prints as the AWS CLI prints service errors.
func CallJSON(ctx context.Context, cfg aws.Config, endpoint, service, target string, input any) ([]byte, error) {
	body, err := json.Marshal(input)
	if err != nil {
		return nil, err
	}
	data, status, err := signedPost(ctx, cfg, endpoint, service, body, http.Header{
		"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {target}})
	if err != nil || status/100 == 2 {
		return data, err
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	_ = json.Unmarshal(data, &e)
	if e.Type == "" {
		e.Type, e.Message = "HTTP"+strconv.Itoa(status), strings.TrimSpace(string(data))
	}
	return nil, &queryError{code: e.Type, message: e.Message}
}

// The inputs and outputs of ListTunnels and TerminateTunnel (for
// --cli-input-json and --generate-cli-skeleton): the API's member names,
// in its order.
type (
	listTunnelsInput struct {
		InstanceConnectEndpointId *string
	}
	listTunnelsOutput struct {
		Tunnels []struct {
			TunnelId                  *string
			Principal                 *string
			SourceIp                  *string
			InstanceConnectEndpointId *string
			AgentId                   *string
			PrivateIpAddress          *string
			RemotePort                *int32
			StartedAt                 *time.Time
			BytesIn                   *int64
			BytesOut                  *int64
			SecondsLeft               *int64
		}
	}
	terminateTunnelInput struct {
		TunnelId *string
	}
	terminateTunnelOutput struct {
		TunnelId   *string
		Terminated *bool
	}
)

func tunnelsCommand(env *Env) *cobra.Command {
	root := &cobra.Command{Use: "tunnels", Short: "Open tunnels: list them, terminate one (Postern actions)"}
	call := func(ctx context.Context, action string, input any) error {
		out, err := callAPI(ctx, env, action, func(cfg aws.Config) ([]byte, error) {
			return CallJSON(ctx, cfg, env.g.endpointURL, "ec2-instance-connect", "AWSEC2InstanceConnectService."+action, input)
		})
		if err != nil {
			return err
		}
		v, err := fromJSON(out)
		if err != nil {
			return &exitError{code: ExitOther, msg: fmt.Sprintf("%s: unexpected answer: %v", action, err)}
		}
		return printResult(env.Stdout, env.g, action, v)
	}
	var endpoint, id string
	list := actionCommand("list", "List open tunnels: id, principal, source, endpoint, agent, target, started, bytes so far, seconds left", func(ctx context.Context) error {
		in := map[string]string{}
		if endpoint != "" {
			in["InstanceConnectEndpointId"] = endpoint
		}
		return call(ctx, "ListTunnels", in)
	})
	list.Flags().StringVar(&endpoint, "instance-connect-endpoint-id", "", "only this endpoint's tunnels")
	withAPIInput(list, apiInput{service: "ec2-instance-connect", op: "ListTunnels", in: reflect.TypeFor[listTunnelsInput](), out: reflect.TypeFor[listTunnelsOutput]()})
	term := actionCommand("terminate", "Close an open tunnel now (its client sees who terminated it)", func(ctx context.Context) error {
		return call(ctx, "TerminateTunnel", map[string]string{"TunnelId": id})
	})
	term.Flags().StringVar(&id, "tunnel-id", "", "the tunnel (tnl-…) to close (required)")
	withAPIInput(term, apiInput{service: "ec2-instance-connect", op: "TerminateTunnel", in: reflect.TypeFor[terminateTunnelInput](),
		out: reflect.TypeFor[terminateTunnelOutput](), required: []string{"TunnelId"}})
	root.AddCommand(list, term)
	return root
}
