package eicapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect/types"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/instance/helper"
	"github.com/postern/postern/internal/store"
	"github.com/postern/postern/internal/testutil/tunneltest"
)

func newKey(t *testing.T) (string, ssh.PublicKey) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))), pk
}

func eic(e *tunneltest.Env, creds aws.Credentials) *ec2instanceconnect.Client {
	return ec2instanceconnect.NewFromConfig(e.AWS(creds))
}

// SendSSHPublicKey through the AWS SDK for Go v2: success, the SDK's typed
// errors, and the helper seeing the key (the one-machine run's key
// service: the server itself, from this host).
func TestSendSSHPublicKeySDK(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	ctx := context.Background()
	inst := e.Server.Local.InstanceID
	line, pk := newKey(t)
	c := eic(e, e.Admin)
	out, err := c.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(inst),
		InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line)})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Success || aws.ToString(out.RequestId) == "" {
		t.Fatalf("answer %+v", out)
	}
	cfg := helper.Config{InstanceID: inst, KeysURL: e.URL, SignerKey: e.Server.SignerPublicKey()}
	lines, refused, err := helper.Keys(ctx, cfg, helper.Client(), "ec2-user", ssh.FingerprintSHA256(pk), time.Now())
	if err != nil || len(lines) != 1 || lines[0] != line || len(refused) != 0 {
		t.Fatalf("helper: %v %v %v", lines, refused, err)
	}
	// After its lifetime (60 s by default) the key is gone.
	if lines, _, _ := helper.Keys(ctx, cfg, helper.Client(), "ec2-user", "", time.Now().Add(61*time.Second)); len(lines) != 0 {
		t.Fatalf("an expired key was printed: %v", lines)
	}
	// The push is on record.
	evs, err := e.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "SendSSHPublicKey"})
	if err != nil || len(evs) != 1 || evs[0].ErrorCode != "" {
		t.Fatalf("events %+v %v", evs, err)
	}
	var rec map[string]any
	json.Unmarshal([]byte(evs[0].Body), &rec)
	if rec["eventSource"] != "ec2-instance-connect.amazonaws.com" || rec["requestParameters"].(map[string]any)["instanceOSUser"] != "ec2-user" {
		t.Fatalf("record %v", rec)
	}

	tests := []struct {
		name  string
		in    ec2instanceconnect.SendSSHPublicKeyInput
		check func(error) bool
	}{
		{"unknown instance", ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String("i-0000000000000000f"), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line)},
			func(err error) bool { var x *types.EC2InstanceNotFoundException; return errors.As(err, &x) }},
		{"bad user name", ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(inst), InstanceOSUser: aws.String("no spaces"), SSHPublicKey: aws.String(line)},
			func(err error) bool { var x *types.InvalidArgsException; return errors.As(err, &x) }},
		{"not a key", ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(inst), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String("ssh-ed25519 " + strings.Repeat("A", 80))},
			func(err error) bool { var x *types.InvalidArgsException; return errors.As(err, &x) }},
		{"bad instance id", ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String("i-XYZ1234567"), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line)},
			func(err error) bool { var x *types.InvalidArgsException; return errors.As(err, &x) }},
		{"wrong availability zone", ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(inst), InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line), AvailabilityZone: aws.String("us-east-1f")},
			func(err error) bool { var x *types.InvalidArgsException; return errors.As(err, &x) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SendSSHPublicKey(ctx, &tc.in)
			if err == nil || !tc.check(err) {
				t.Fatalf("got %v (%T)", err, err)
			}
		})
	}
}

// A policy with ec2:osuser = ec2-user allows pushing for ec2-user and
// refuses root, with AccessDeniedException.
func TestOSUserCondition(t *testing.T) {
	e := tunneltest.Start(t, tunneltest.Options{})
	ctx := context.Background()
	inst := e.Server.Local.InstanceID
	creds := e.NewUser("dev", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2-instance-connect:SendSSHPublicKey",
		"Resource":"arn:aws:ec2:*:*:instance/*","Condition":{"StringEquals":{"ec2:osuser":"ec2-user"}}}]}`)
	line, _ := newKey(t)
	c := eic(e, creds)
	if _, err := c.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(inst),
		InstanceOSUser: aws.String("ec2-user"), SSHPublicKey: aws.String(line)}); err != nil {
		t.Fatalf("ec2-user: %v", err)
	}
	_, err := c.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(inst),
		InstanceOSUser: aws.String("root"), SSHPublicKey: aws.String(line)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !strings.Contains(ae.ErrorMessage(), "ec2-instance-connect:SendSSHPublicKey") {
		t.Fatalf("root: %v", err)
	}
	evs, _ := e.Server.Store.ListEvents(ctx, store.EventQuery{EventName: "SendSSHPublicKey"})
	if len(evs) != 2 || evs[0].ErrorCode != "AccessDeniedException" {
		t.Fatalf("the refused push is not on record: %+v", evs)
	}
}
