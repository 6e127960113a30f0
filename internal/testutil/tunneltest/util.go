package tunneltest

import (
	"context"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/postern/postern/internal/cli"
)

func splitLines(s string) []string { return strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") }

func cut(s, sep string) (string, string, bool) { return strings.Cut(strings.TrimSpace(s), sep) }

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

// callQuery calls a Postern EC2 action.
func callQuery(cfg aws.Config, endpoint, action string, params map[string]string) (string, error) {
	v := url.Values{}
	for k, x := range params {
		v.Set(k, x)
	}
	b, err := cli.CallQuery(context.Background(), cfg, endpoint, "ec2", action, "2016-11-15", v)
	return string(b), err
}

// Call calls a Postern EC2 action as creds and returns the XML answer.
func (e *Env) Call(creds aws.Credentials, action string, params map[string]string) (string, error) {
	return callQuery(e.AWS(creds), e.URL, action, params)
}

// CallJSON calls a Postern EC2 Instance Connect action as creds and
// returns the JSON answer.
func (e *Env) CallJSON(creds aws.Credentials, action string, input any) (string, error) {
	b, err := cli.CallJSON(context.Background(), e.AWS(creds), e.URL, "ec2-instance-connect", "AWSEC2InstanceConnectService."+action, input)
	return string(b), err
}
