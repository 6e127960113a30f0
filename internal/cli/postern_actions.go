package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/spf13/cobra"
)

// Postern's own EC2 actions (RegisterInstance, DeregisterInstance) are not
// in the AWS SDK. RegisterInstance answers in RunInstances' shape, so the
// CLI sends it through the SDK's RunInstances operation with the request
// body replaced: the SDK signs it, parses the reservation, and the output
// prints exactly as `aws ec2 run-instances` would.

func init() {
	customCommands["ec2"] = append(customCommands["ec2"], registerInstanceCommand, deregisterInstanceCommand)
}

// bodyRewrite swaps the body after the operation's own serializer ran.
func bodyRewrite(params url.Values) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Build.Add(middleware.BuildMiddlewareFunc("PosternAction", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			req, ok := in.Request.(*smithyhttp.Request)
			if !ok {
				return middleware.BuildOutput{}, middleware.Metadata{}, fmt.Errorf("unexpected request type %T", in.Request)
			}
			body := params.Encode()
			r, err := req.SetStream(strings.NewReader(body))
			if err != nil {
				return middleware.BuildOutput{}, middleware.Metadata{}, err
			}
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Length", strconv.Itoa(len(body)))
			in.Request = r
			return next.HandleBuild(ctx, in)
		}), middleware.Before)
	}
}

func registerInstanceCommand(env *Env) *cobra.Command {
	var subnet, ip, ip6, platform string
	var groups, tagSpecs []string
	cmd := &cobra.Command{
		Use:   "register-instance",
		Short: "Register an existing server as an instance (Postern action; answers like run-instances)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := url.Values{"Action": {"RegisterInstance"}, "Version": {"2016-11-15"}}
			set := func(k, v string) {
				if v != "" {
					p.Set(k, v)
				}
			}
			set("SubnetId", subnet)
			set("PrivateIpAddress", ip)
			set("Ipv6Address", ip6)
			set("Platform", platform)
			for i, g := range groups {
				p.Set(fmt.Sprintf("SecurityGroupId.%d", i+1), g)
			}
			if len(tagSpecs) > 0 {
				var specs []ec2types.TagSpecification
				if err := assignArgs(&specs, tagSpecs, "--tag-specifications"); err != nil {
					return err
				}
				for i, s := range specs {
					set(fmt.Sprintf("TagSpecification.%d.ResourceType", i+1), string(s.ResourceType))
					for j, t := range s.Tags {
						p.Set(fmt.Sprintf("TagSpecification.%d.Tag.%d.Key", i+1, j+1), aws.ToString(t.Key))
						p.Set(fmt.Sprintf("TagSpecification.%d.Tag.%d.Value", i+1, j+1), aws.ToString(t.Value))
					}
				}
			}
			cfg, err := env.LoadAWSConfig(cmd.Context())
			if err != nil {
				return err
			}
			client := ec2.NewFromConfig(cfg, func(o *ec2.Options) {
				setEndpoint(&o.BaseEndpoint, env.g.endpointURL)
				o.APIOptions = append(o.APIOptions, bodyRewrite(p))
			})
			out, err := client.RunInstances(cmd.Context(), &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			if err != nil {
				return apiError("RegisterInstance", err)
			}
			return printOutput(env.Stdout, env.g.output, reflect.ValueOf(out))
		},
	}
	f := cmd.Flags()
	f.StringVar(&subnet, "subnet-id", "", "the subnet the server is in (required)")
	f.StringVar(&ip, "private-ip-address", "", "the server's private IPv4 address")
	f.StringVar(&ip6, "ipv6-address", "", "the server's IPv6 address")
	f.StringVar(&platform, "platform", "", "linux (default) or windows")
	f.StringArrayVar(&groups, "security-group-ids", nil, "security groups of the instance (default: the VPC's default group)")
	f.StringArrayVar(&tagSpecs, "tag-specifications", nil, "ResourceType=instance,Tags=[{Key=k,Value=v}]")
	return cmd
}

func deregisterInstanceCommand(env *Env) *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "deregister-instance",
		Short: "Forget a registered instance (Postern action)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := env.LoadAWSConfig(cmd.Context())
			if err != nil {
				return err
			}
			_, err = CallQuery(cmd.Context(), cfg, env.g.endpointURL, "ec2", "DeregisterInstance", "2016-11-15", url.Values{"InstanceId": {id}})
			if err != nil {
				return apiError("DeregisterInstance", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "instance-id", "", "the instance to deregister (required)")
	return cmd
}

// assignArgs converts shorthand or JSON arguments into dst (a pointer).
func assignArgs(dst any, args []string, where string) error {
	v := reflect.ValueOf(dst).Elem()
	var items []any
	for _, a := range args {
		item, err := parseValue(a, v.Type().Elem())
		if err != nil {
			return usageErr("argument %s: %v", where, err)
		}
		if list, ok := item.([]any); ok && len(args) == 1 {
			items = list
			break
		}
		items = append(items, item)
	}
	return assign(v, items, where)
}

// queryError is an AWS error from a Query-protocol response.
type queryError struct {
	code, message string
}

func (e *queryError) Error() string                 { return e.code + ": " + e.message }
func (e *queryError) ErrorCode() string             { return e.code }
func (e *queryError) ErrorMessage() string          { return e.message }
func (e *queryError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

// CallQuery sends a Query-protocol action the SDK does not know, signed
// with the SDK's SigV4 signer and the configuration's credentials, to
// endpoint (or the service's configured endpoint_url when empty). It
// returns the response body, or an error that apiError prints as the AWS
// CLI prints service errors.
func CallQuery(ctx context.Context, cfg aws.Config, endpoint, service, action, version string, params url.Values) ([]byte, error) {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("Action", action)
	form.Set("Version", version)
	data, status, err := signedPost(ctx, cfg, endpoint, service, []byte(form.Encode()), http.Header{
		"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}})
	if err != nil || status/100 == 2 {
		return data, err
	}
	var e struct {
		Code    string `xml:"Errors>Error>Code"`
		Message string `xml:"Errors>Error>Message"`
		Code2   string `xml:"Error>Code"`
		Msg2    string `xml:"Error>Message"`
	}
	_ = xml.NewDecoder(bytes.NewReader(data)).Decode(&e)
	code, msg := e.Code+e.Code2, e.Message+e.Msg2
	if code == "" {
		code, msg = "HTTP"+strconv.Itoa(status), strings.TrimSpace(string(data))
	}
	return nil, &queryError{code: code, message: msg}
}

// signedPost POSTs body to endpoint (or the service's configured
// endpoint_url when empty) with header, signed with the SDK's SigV4 signer
// for service, and returns the response body (at most 16 MiB) and status.
func signedPost(ctx context.Context, cfg aws.Config, endpoint, service string, body []byte, header http.Header) ([]byte, int, error) {
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if endpoint == "" {
		return nil, 0, fmt.Errorf("no endpoint for %s: set --endpoint-url or endpoint_url in the config file", service)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("failed to retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, cfg.Region, time.Now()); err != nil {
		return nil, 0, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, 0, err
	}
	return data, resp.StatusCode, nil
}
