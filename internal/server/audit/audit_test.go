package audit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/internal/server/identity"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var at = time.Date(2026, 11, 22, 11, 46, 46, 265_000_000, time.UTC)

func user() *identity.Principal {
	return &identity.Principal{Type: identity.TypeIAMUser, AccountID: "123456789012", ARN: "arn:aws:iam::123456789012:user/alice",
		PrincipalID: "AIDAEXAMPLEEXAMPLE01", UserName: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}
}

func role() *identity.Principal {
	return &identity.Principal{Type: identity.TypeAssumedRole, AccountID: "123456789012",
		ARN: "arn:aws:sts::123456789012:assumed-role/ops/alice-session", PrincipalID: "AROAEXAMPLEEXAMPLE01:alice-session",
		UserName: "ops", AccessKeyID: "ASIAEXAMPLEEXAMPLE01", RoleARN: "arn:aws:iam::123456789012:role/ops",
		RoleID: "AROAEXAMPLEEXAMPLE01", SessionName: "alice-session", SessionIssued: at.Add(-time.Hour)}
}

const eiceARN = "arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/eice-0123456789abcdef0"

func meta(p *identity.Principal, id string) Meta {
	return Meta{AccountID: "123456789012", Region: "us-east-1", Principal: p, SourceIP: "203.0.113.7",
		UserAgent: "aws-cli/2.13.39 command/ec2-instance-connect.open-tunnel", RequestID: "83c3f923-507f-7265-fabb-967ec5c4e1fe",
		Time: at, EventID: id}
}

var params = OpenTunnelParams{InstanceConnectEndpointID: "eice-0123456789abcdef0", MaxTunnelDuration: "3600", RemotePort: "22", PrivateIPAddress: "10.0.1.10"}

// golden compares a record's JSON with testdata/<name>.json.
func golden(t *testing.T, name string, r Record) {
	t.Helper()
	got, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Fatalf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestGoldenRecords(t *testing.T) {
	golden(t, "open_tunnel", OpenTunnel(meta(user(), "11111111-2222-3333-4444-555555555555"), params, eiceARN,
		OpenTunnelData{TunnelID: "tnl-0123456789abcdef0", AgentID: "eni-0123456789abcdef0"}, "", ""))
	golden(t, "open_tunnel_denied", OpenTunnel(meta(role(), "11111111-2222-3333-4444-555555555556"), params, eiceARN, OpenTunnelData{},
		"AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/ops/alice-session is not authorized to perform: ec2-instance-connect:OpenTunnel"))
	golden(t, "open_tunnel_unauthenticated", OpenTunnel(Meta{AccountID: "123456789012", Region: "us-east-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		SourceIP: "203.0.113.7", RequestID: "r", Time: at, EventID: "11111111-2222-3333-4444-555555555557"}, params, "", OpenTunnelData{},
		"InvalidSignatureException", "The request signature we calculated does not match the signature you provided."))
	golden(t, "close_tunnel", CloseTunnel(meta(user(), "11111111-2222-3333-4444-555555555558"), CloseDetails{TunnelID: "tnl-0123456789abcdef0",
		AgentID: "eni-0123456789abcdef0", BytesIn: 1234, BytesOut: 56789, DurationSeconds: 61.5, Reason: "MaxDuration", CloseCode: 1008,
		Message: "Maximum tunnel duration of 60 seconds reached", OpenEventID: "11111111-2222-3333-4444-555555555555",
		OpenedAt: at.Add(-61500 * time.Millisecond).Format(time.RFC3339Nano), RemotePort: "22", PrivateIP: "10.0.1.10",
		EndpointID: "eice-0123456789abcdef0"}, eiceARN))
}

func TestGoldenAPICalls(t *testing.T) {
	golden(t, "api_call", APICall(meta(user(), "11111111-2222-3333-4444-555555555559"), "iam.amazonaws.com", "CreateUser", false,
		map[string]any{"UserName": "bob"}, nil, "", "", "", ""))
	golden(t, "api_call_read_only_denied", APICall(meta(role(), "11111111-2222-3333-4444-55555555555a"), "ec2.amazonaws.com",
		"DescribeInstanceConnectEndpoints", true, nil, nil, "", "", "UnauthorizedOperation", "You are not authorized to perform this operation."))
	golden(t, "send_ssh_public_key", APICall(meta(user(), "11111111-2222-3333-4444-55555555555b"), SourceInstanceConn, "SendSSHPublicKey", false,
		map[string]string{"instanceId": "i-0123456789abcdef0", "instanceOSUser": "ec2-user", "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"},
		map[string]any{"requestId": "83c3f923-507f-7265-fabb-967ec5c4e1fe", "success": true}, "AWS::EC2::Instance",
		"arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0", "", ""))
}

// The fields docs/aws-compat.md §6 names, checked one by one on the decoded document.
func TestOpenTunnelShape(t *testing.T) {
	r := OpenTunnel(meta(user(), ""), params, eiceARN, OpenTunnelData{TunnelID: "tnl-1"}, "", "")
	b, _ := json.Marshal(r)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"eventVersion": "1.08", "eventSource": "ec2-instance-connect.amazonaws.com", "eventName": "OpenTunnel",
		"eventType": "AwsApiCall", "readOnly": false, "managementEvent": true, "eventCategory": "Management",
		"awsRegion": "us-east-1", "recipientAccountId": "123456789012", "sourceIPAddress": "203.0.113.7",
		"eventTime": "2026-11-22T11:46:46Z", "responseElements": nil}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	rp := m["requestParameters"].(map[string]any)
	for _, k := range []string{"instanceConnectEndpointId", "maxTunnelDuration", "remotePort", "privateIpAddress"} {
		if _, ok := rp[k].(string); !ok {
			t.Errorf("requestParameters.%s is %#v, want a string", k, rp[k])
		}
	}
	res := m["resources"].([]any)[0].(map[string]any)
	if res["type"] != "AWS::EC2::InstanceConnectEndpoint" || res["ARN"] != eiceARN || res["accountId"] != "123456789012" {
		t.Errorf("resources %v", res)
	}
	if _, ok := m["errorCode"]; ok {
		t.Error("an allowed attempt carries errorCode")
	}
	ui := m["userIdentity"].(map[string]any)
	for k, v := range map[string]string{"type": "IAMUser", "principalId": "AIDAEXAMPLEEXAMPLE01", "arn": "arn:aws:iam::123456789012:user/alice",
		"accountId": "123456789012", "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "alice"} {
		if ui[k] != v {
			t.Errorf("userIdentity.%s = %v, want %s", k, ui[k], v)
		}
	}
	if _, err := Event(r, "tnl-1", "eice-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
}

// ConsoleLogin records in CloudTrail's shape: a success names the user
// and the console session's key; a failure says "Failed authentication",
// names a user only when one exists and hides any other name typed.
func TestGoldenConsoleLogin(t *testing.T) {
	m := meta(nil, "11111111-2222-3333-4444-55555555555c")
	m.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
	m.RequestID = ""
	loginTo := "https://postern.example.com/console/"
	golden(t, "console_login", ConsoleLogin(m, ConsoleLoginAttempt{UserName: "alice", UserID: "AIDAEXAMPLEEXAMPLE01",
		UserARN: "arn:aws:iam::123456789012:user/alice", AccessKeyID: "ASIAEXAMPLEEXAMPLE02", Success: true, MFAUsed: true, LoginTo: loginTo}))
	m.EventID = "11111111-2222-3333-4444-55555555555d"
	golden(t, "console_login_failed", ConsoleLogin(m, ConsoleLoginAttempt{UserName: "alice", UserID: "AIDAEXAMPLEEXAMPLE01",
		UserARN: "arn:aws:iam::123456789012:user/alice", AccessKeyID: "ASIAEXAMPLEEXAMPLE02", LoginTo: loginTo}))
	m.EventID = "11111111-2222-3333-4444-55555555555e"
	golden(t, "console_login_unknown_throttled", ConsoleLogin(m, ConsoleLoginAttempt{UserName: "my-Passw0rd!", LoginTo: loginTo, ErrorCode: "Throttling"}))
}

// TestEventBodyIsMarshal: the stored record (Event's Body) is byte for
// byte what json.Marshal makes of the record, for every golden record and
// for texts JSON escapes (HTML, U+2028, invalid UTF-8, control bytes),
// large then small (the pooled encoder's buffer reused); an encoding
// failure leaves no trace in the next record.
func TestEventBodyIsMarshal(t *testing.T) {
	odd := `<script>&"\` + "\u2028\u2029\x00\x1f\xff é"
	records := []Record{
		OpenTunnel(meta(user(), "11111111-2222-3333-4444-555555555555"), params, eiceARN,
			OpenTunnelData{TunnelID: "tnl-0123456789abcdef0", AgentID: "eni-0123456789abcdef0"}, "", ""),
		OpenTunnel(meta(role(), "11111111-2222-3333-4444-555555555556"), params, eiceARN, OpenTunnelData{}, "AccessDeniedException", odd),
		CloseTunnel(meta(user(), "11111111-2222-3333-4444-555555555558"), CloseDetails{TunnelID: "tnl-0123456789abcdef0",
			BytesIn: 1234, BytesOut: 56789, DurationSeconds: 61.5, Reason: "MaxDuration", Message: odd}, eiceARN),
		APICall(meta(user(), "11111111-2222-3333-4444-555555555559"), "iam.amazonaws.com", "CreateUser", false,
			map[string]any{"UserName": odd, "Pad": strings.Repeat("p", 100_000)}, nil, "", "", "", ""),
		APICall(meta(role(), "11111111-2222-3333-4444-55555555555a"), "ec2.amazonaws.com",
			"DescribeInstanceConnectEndpoints", true, nil, nil, "", "", "UnauthorizedOperation", "You are not authorized to perform this operation."),
		APICall(meta(user(), "11111111-2222-3333-4444-55555555555b"), SourceInstanceConn, "SendSSHPublicKey", false,
			map[string]string{"instanceId": "i-0123456789abcdef0", "sSHPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"},
			map[string]any{"requestId": "83c3f923-507f-7265-fabb-967ec5c4e1fe", "success": true}, "AWS::EC2::Instance",
			"arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0", "", ""),
	}
	bad := APICall(meta(user(), "11111111-2222-3333-4444-55555555555c"), "iam.amazonaws.com", "CreateUser", false,
		map[string]any{"UserName": "bob", "c": make(chan int)}, nil, "", "", "", "")
	for round := range 2 {
		for i, r := range records {
			want, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Event(r, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if e.Body != string(want) {
				t.Fatalf("round %d, record %d: body\n%s\nwant json.Marshal's\n%s", round, i, e.Body, want)
			}
			if _, err := Event(bad, "", ""); err == nil {
				t.Fatal("a record that cannot be encoded was encoded")
			}
		}
	}
}

// BenchmarkEvent: a Describe-sized read-only record to the store's form.
func BenchmarkEvent(b *testing.B) {
	r := APICall(meta(user(), "11111111-2222-3333-4444-55555555555d"), "ec2.amazonaws.com", "DescribeInstanceConnectEndpoints", true,
		map[string]any{"instanceConnectEndpointIds": []string{"eice-0123456789abcdef0"}}, nil, "", "", "", "")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Event(r, "", ""); err != nil {
			b.Fatal(err)
		}
	}
}
