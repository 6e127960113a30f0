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
	"github.com/spf13/cobra"
)

// Postern's own EC2 actions (RegisterInstance, DeregisterInstance) are not
// in the AWS SDK. They are sent as their own Query requests by CallQuery,
// signed with the SDK's signer. RegisterInstance answers in RunInstances'
// shape: its reservation is decoded into the SDK's RunInstancesOutput, so
// the output prints exactly as `aws ec2 run-instances` would.

// ec2Version is the EC2 Query API version Postern's EC2 actions are sent with.
const ec2Version = "2016-11-15"

// registerInstanceParams are RegisterInstance's Query parameters.
type registerInstanceParams struct {
	subnet, ip, ip6, platform string
	groups                    []string
	tagSpecs                  []ec2types.TagSpecification
}

func (r registerInstanceParams) values() url.Values {
	p := url.Values{}
	set := func(k, v string) {
		if v != "" {
			p.Set(k, v)
		}
	}
	set("SubnetId", r.subnet)
	set("PrivateIpAddress", r.ip)
	set("Ipv6Address", r.ip6)
	set("Platform", r.platform)
	for i, g := range r.groups {
		p.Set(fmt.Sprintf("SecurityGroupId.%d", i+1), g)
	}
	for i, s := range r.tagSpecs {
		set(fmt.Sprintf("TagSpecification.%d.ResourceType", i+1), string(s.ResourceType))
		for j, t := range s.Tags {
			p.Set(fmt.Sprintf("TagSpecification.%d.Tag.%d.Key", i+1, j+1), aws.ToString(t.Key))
			p.Set(fmt.Sprintf("TagSpecification.%d.Tag.%d.Value", i+1, j+1), aws.ToString(t.Value))
		}
	}
	return p
}

// callQuery sends Postern's EC2 action with the AWS configuration and words
// its error as the AWS CLI does.
func callQuery(ctx context.Context, env *Env, action string, params url.Values) ([]byte, error) {
	return callAPI(ctx, env, action, func(cfg aws.Config) ([]byte, error) {
		return CallQuery(ctx, cfg, env.g.endpointURL, "ec2", action, ec2Version, params)
	})
}

// registerInstance sends RegisterInstance and decodes its reservation.
func registerInstance(ctx context.Context, cfg aws.Config, endpoint string, r registerInstanceParams) (*ec2.RunInstancesOutput, error) {
	body, err := CallQuery(ctx, cfg, endpoint, "ec2", "RegisterInstance", ec2Version, r.values())
	if err != nil {
		return nil, err
	}
	return decodeReservation(body)
}

func registerInstanceCommand(env *Env) *cobra.Command {
	var r registerInstanceParams
	var tagSpecs []string
	cmd := actionCommand("register-instance", "Register an existing server as an instance (Postern action; answers like run-instances)", func(ctx context.Context) error {
		if len(tagSpecs) > 0 {
			if err := assignArgs(&r.tagSpecs, tagSpecs, "--tag-specifications"); err != nil {
				return err
			}
		}
		out, err := callAPI(ctx, env, "RegisterInstance", func(cfg aws.Config) (*ec2.RunInstancesOutput, error) {
			return registerInstance(ctx, cfg, env.g.endpointURL, r)
		})
		if err != nil {
			return err
		}
		return printResult(env.Stdout, env.g, "RegisterInstance", reflect.ValueOf(out))
	})
	f := cmd.Flags()
	f.StringVar(&r.subnet, "subnet-id", "", "the subnet the server is in (required)")
	f.StringVar(&r.ip, "private-ip-address", "", "the server's private IPv4 address")
	f.StringVar(&r.ip6, "ipv6-address", "", "the server's IPv6 address")
	f.StringVar(&r.platform, "platform", "", "linux (default) or windows")
	f.StringArrayVar(&r.groups, "security-group-ids", nil, "security groups of the instance (default: the VPC's default group)")
	f.StringArrayVar(&tagSpecs, "tag-specifications", nil, "ResourceType=instance,Tags=[{Key=k,Value=v}]")
	return withAPIInput(cmd, apiInput{service: "ec2", op: "RegisterInstance", in: reflect.TypeFor[registerInstanceInput](),
		out: reflect.TypeFor[ec2.RunInstancesOutput](), required: []string{"SubnetId"}})
}

// The input structures of RegisterInstance and DeregisterInstance (for
// --cli-input-json and --generate-cli-skeleton): the API's member names,
// in its order.
type (
	registerInstanceInput struct {
		SubnetId          *string
		PrivateIpAddress  *string
		Ipv6Address       *string
		Platform          *string
		SecurityGroupIds  []string
		TagSpecifications []ec2types.TagSpecification
	}
	deregisterInstanceInput struct {
		InstanceId *string
	}
)

func deregisterInstanceCommand(env *Env) *cobra.Command {
	var id string
	cmd := actionCommand("deregister-instance", "Forget a registered instance (Postern action)", func(ctx context.Context) error {
		_, err := callQuery(ctx, env, "DeregisterInstance", url.Values{"InstanceId": {id}})
		return err
	})
	cmd.Flags().StringVar(&id, "instance-id", "", "the instance to deregister (required)")
	return withAPIInput(cmd, apiInput{service: "ec2", op: "DeregisterInstance", in: reflect.TypeFor[deregisterInstanceInput](),
		out: reflect.TypeFor[struct{}](), required: []string{"InstanceId"}})
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
		// Any failure here is reported as missing credentials (unlike the
		// SDK's operations, where only the instance-role fallback is).
		return nil, 0, markNoCredentials(fmt.Errorf("failed to retrieve credentials: %w", err))
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
