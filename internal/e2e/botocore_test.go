package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// needBotocore checks that Debian's Python can import botocore (Debian
// package python3-botocore).
func needBotocore(t *testing.T) {
	t.Helper()
	out, err := exec.Command(systemPython, "-I", "-c", "import botocore").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s cannot import botocore: %v: %s", systemPython, err, strings.TrimSpace(string(out)))
	}
	foreignStack(t, "python3-botocore", err)
}

// botocoreOutput is what testdata/botocore_calls.py prints.
type botocoreOutput struct {
	Versions map[string]any
	Results  map[string]struct {
		OK        bool
		Data      map[string]any
		Code      string
		Message   string
		Status    int
		Exception string
	}
	Requests []struct {
		Call          string
		Operation     string
		HTTPS         bool
		Scheme        string
		Service       string
		Region        string
		SignedHeaders string  `json:"signed_headers"`
		ContentSHA256 *string `json:"content_sha256"`
		SecurityToken bool    `json:"security_token"`
	}
}

// TestBotocore makes signed API calls of every protocol family Postern
// serves (EC2 Query, EC2 Instance Connect and CloudTrail JSON 1.1, STS and
// IAM Query) through a foreign client stack — Debian's python3-botocore
// on Python's ssl (OpenSSL) and urllib3 — configured only by a shared
// config file (endpoint_url, ca_bundle, region) and a credentials file,
// and checks what botocore made of each answer, errors included.
func TestBotocore(t *testing.T) {
	needBotocore(t)
	for _, signer := range []struct {
		name, class string
		env         []string
		need        func(*testing.T)
	}{
		{name: "botocore signer", class: "botocore.auth.SigV4Auth", env: []string{"BOTO_DISABLE_CRT=true"}},
		// botocore signs with awscrt (aws-c-auth) whenever python3-awscrt
		// is installed, as it is next to the AWS CLI v2's packages.
		{name: "awscrt signer", class: "botocore.crt.auth.CrtSigV4Auth", need: needAWSCRT},
	} {
		t.Run(signer.name, func(t *testing.T) {
			if signer.need != nil {
				signer.need(t)
			}
			testBotocore(t, signer.class, signer.env)
		})
	}
}

// testBotocore runs testdata/botocore_calls.py against a new server with
// extraEnv and checks that botocore signed with signerClass.
func testBotocore(t *testing.T, signerClass string, extraEnv []string) {
	srv := startServer(t, filepath.Join(t.TempDir(), "data")) // with the local network: an instance at 127.0.0.1

	// A throwaway profile made from the files the server wrote.
	srvConfig := filepath.Join(srv.dataDir, "config")
	region, caBundle := configValue(t, srvConfig, "region"), configValue(t, srvConfig, "ca_bundle")
	if u := configValue(t, srvConfig, "endpoint_url"); u != srv.url {
		t.Fatalf("endpoint_url %s in %s, want %s", u, srvConfig, srv.url)
	}
	akid, secret := adminKey(t, srv.dataDir)
	home := t.TempDir()
	awsDir := filepath.Join(home, "aws")
	if err := os.Mkdir(awsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	const profile = "botocore-e2e"
	config := fmt.Sprintf("[profile %s]\nregion = %s\nendpoint_url = %s\nca_bundle = %s\n", profile, region, srv.url, caBundle)
	creds := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", profile, akid, secret)
	for name, content := range map[string]string{"config": config, "credentials": creds} {
		if err := os.WriteFile(filepath.Join(awsDir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}

	script, err := filepath.Abs(filepath.Join("testdata", "botocore_calls.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, "-I", script)
	cmd.Env = append(cleanEnv(),
		"HOME="+home,
		"AWS_CONFIG_FILE="+filepath.Join(awsDir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(awsDir, "credentials"),
		"AWS_PROFILE="+profile,
		"AWS_EC2_METADATA_DISABLED=true",
		"POSTERN_SSH_PUBLIC_KEY="+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))),
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore script: %v\nstderr:\n%s\nstdout:\n%s\nserver:\n%s", err, stderr.String(), stdout, srv.output())
	}
	var out botocoreOutput
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("botocore script output: %v\n%s", err, stdout)
	}
	t.Logf("versions: %v", out.Versions)
	if out.Versions["signer"] != signerClass {
		t.Errorf("botocore signed with %v, want %s", out.Versions["signer"], signerClass)
	}
	if out.Versions["ec2_model_has_instance_connect_endpoint"] != true {
		t.Logf("this botocore's EC2 model has no Instance Connect Endpoint actions: they were serialised like the AWS CLI, signed by the clients' signer, sent by its HTTP session and their errors parsed by its EC2 parser")
	}

	// What botocore put on the wire: HTTPS, SigV4 with a hashed payload,
	// credential scoped to the server's region and the service's name.
	services := map[string]bool{}
	for _, r := range out.Requests {
		services[r.Service] = true
		if r.ContentSHA256 != nil && *r.ContentSHA256 == "UNSIGNED-PAYLOAD" {
			t.Errorf("!!! botocore sent X-Amz-Content-SHA256: UNSIGNED-PAYLOAD for %s (service %s); a server refusing unsigned payloads breaks it", r.Call, r.Service)
		}
		if !r.HTTPS || r.Scheme != "AWS4-HMAC-SHA256" || r.Region != region {
			t.Errorf("request %s: https %v, scheme %q, region %q (want https, AWS4-HMAC-SHA256, %s)", r.Call, r.HTTPS, r.Scheme, r.Region, region)
		}
		for _, h := range []string{"host", "x-amz-date"} {
			if !slices.Contains(strings.Split(r.SignedHeaders, ";"), h) {
				t.Errorf("request %s signs %q, not %s", r.Call, r.SignedHeaders, h)
			}
		}
		if strings.Contains(r.Call, "role session") != r.SecurityToken {
			t.Errorf("request %s (%s): X-Amz-Security-Token sent %v", r.Call, r.Operation, r.SecurityToken)
		}
	}
	for _, s := range []string{"ec2", "ec2-instance-connect", "sts", "iam", "cloudtrail"} {
		if !services[s] {
			t.Errorf("no request was signed for service %q; saw %v", s, services)
		}
	}

	acct := ""
	if who := out.Results["sts.GetCallerIdentity"].Data; who != nil {
		acct, _ = who["Account"].(string)
	}
	data := func(name string) map[string]any { return out.Results[name].Data }
	vpcID, _ := data("ec2.CreateVpc")["VpcId"].(string)
	subnetID, _ := data("ec2.CreateSubnet")["SubnetId"].(string)
	eiceID, _ := data("ec2.CreateInstanceConnectEndpoint")["InstanceConnectEndpointId"].(string)
	oneEndpoint := func(d map[string]any) error {
		eps, _ := d["Endpoints"].([]any)
		if len(eps) != 1 {
			return fmt.Errorf("%d endpoints, want 1 (%s)", len(eps), eiceID)
		}
		if ep, _ := eps[0].(map[string]any); ep["InstanceConnectEndpointId"] != eiceID || ep["VpcId"] != vpcID || ep["SubnetId"] != subnetID {
			return fmt.Errorf("endpoint %v, want %s in %s/%s", ep, eiceID, vpcID, subnetID)
		}
		return nil
	}
	roleSessionArn := "arn:aws:sts::" + acct + ":assumed-role/boto-role/botocore-session"

	tests := []struct {
		name       string
		wantCode   string // "" for success
		wantStatus int
		check      func(d map[string]any) error
	}{
		{name: "sts.GetCallerIdentity", check: func(d map[string]any) error {
			return botoExpect(strings.HasSuffix(botoStr(d, "Arn"), ":user/admin") && len(acct) == 12, "identity %v", d)
		}},
		{name: "ec2.CreateVpc", check: func(d map[string]any) error {
			tags, _ := d["Tags"].(map[string]any)
			return botoExpect(strings.HasPrefix(vpcID, "vpc-") && d["CidrBlock"] == "10.77.0.0/16" && tags["Name"] == "botocore & co", "VPC %v", d)
		}},
		{name: "ec2.DescribeVpcs", check: func(d map[string]any) error {
			vpcs, _ := d["Vpcs"].([]any)
			return botoExpect(len(vpcs) == 1 && fmt.Sprint(vpcs[0]) == fmt.Sprint(map[string]any{"VpcId": vpcID, "CidrBlock": "10.77.0.0/16"}), "VPCs %v, want %s", d, vpcID)
		}},
		{name: "ec2.DescribeVpcs filter", check: func(d map[string]any) error {
			return botoExpect(fmt.Sprint(d["VpcIds"]) == fmt.Sprint([]any{vpcID}), "VPCs tagged Name='botocore & co': %v, want [%s]", d["VpcIds"], vpcID)
		}},
		{name: "ec2.DescribeVpcs unknown", wantCode: "InvalidVpcID.NotFound", wantStatus: 400},
		{name: "ec2.CreateSubnet", check: func(d map[string]any) error {
			return botoExpect(strings.HasPrefix(subnetID, "subnet-"), "subnet %v", d)
		}},
		{name: "ec2.CreateInstanceConnectEndpoint", check: func(d map[string]any) error {
			tags, _ := d["Tags"].(map[string]any)
			wantArn := "arn:aws:ec2:" + region + ":" + acct + ":instance-connect-endpoint/" + eiceID
			return botoExpect(strings.HasPrefix(eiceID, "eice-") && d["SubnetId"] == subnetID && d["VpcId"] == vpcID &&
				d["InstanceConnectEndpointArn"] == wantArn && d["PreserveClientIp"] == false && tags["env"] == "test & dev" &&
				d["ClientToken"] == d["SentClientToken"] && strings.HasPrefix(botoStr(d, "State"), "create-"),
				"endpoint %v (want subnet %s, VPC %s, ARN %s)", d, subnetID, vpcID, wantArn)
		}},
		{name: "ec2.DescribeInstanceConnectEndpoints", check: oneEndpoint},
		{name: "ec2.DescribeInstanceConnectEndpoints filter", check: oneEndpoint},
		{name: "ec2.DescribeInstanceConnectEndpoints unknown", wantCode: "InvalidInstanceConnectEndpointId.NotFound", wantStatus: 400},
		{name: "ec2.DescribeInstances", check: func(d map[string]any) error {
			return botoExpect(strings.HasPrefix(botoStr(d, "InstanceId"), "i-"), "instance %v", d)
		}},
		{name: "ec2-instance-connect.SendSSHPublicKey", check: func(d map[string]any) error {
			return botoExpect(d["Success"] == true && botoStr(d, "RequestId") != "", "SendSSHPublicKey %v", d)
		}},
		{name: "ec2-instance-connect.SendSSHPublicKey unknown", wantCode: "EC2InstanceNotFoundException", wantStatus: 400},
		{name: "iam.CreateUser", check: func(d map[string]any) error {
			return botoExpect(d["UserName"] == "boto-user" && strings.HasPrefix(botoStr(d, "UserId"), "AIDA") &&
				d["Arn"] == "arn:aws:iam::"+acct+":user/boto-user", "user %v", d)
		}},
		{name: "iam.ListUsers", check: func(d map[string]any) error {
			return botoExpect(fmt.Sprint(d["UserNames"]) == "[admin boto-user]", "users %v, want [admin boto-user]", d["UserNames"])
		}},
		{name: "iam.GetUser unknown", wantCode: "NoSuchEntity", wantStatus: 404},
		{name: "iam.CreateAccessKey", check: func(d map[string]any) error {
			return botoExpect(strings.HasPrefix(botoStr(d, "AccessKeyId"), "AKIA") && botoStr(d, "SecretAccessKey") != "", "access key id %v", d["AccessKeyId"])
		}},
		{name: "iam.PutUserPolicy"},
		{name: "iam.CreateRole", check: func(d map[string]any) error {
			return botoExpect(d["Arn"] == "arn:aws:iam::"+acct+":role/boto-role" && botoStr(d, "RoleId") != "", "role %v", d)
		}},
		{name: "iam.PutRolePolicy"},
		{name: "sts.AssumeRole", check: func(d map[string]any) error {
			return botoExpect(strings.HasPrefix(botoStr(d, "AccessKeyId"), "ASIA") && botoStr(d, "SessionToken") != "" && d["AssumedRoleArn"] == roleSessionArn,
				"AssumeRole gave key %v, ARN %v (want ASIA…, a session token, %s)", d["AccessKeyId"], d["AssumedRoleArn"], roleSessionArn)
		}},
		{name: "sts.GetCallerIdentity role session", check: func(d map[string]any) error {
			return botoExpect(d["Arn"] == roleSessionArn, "role session identity %v, want %s", d["Arn"], roleSessionArn)
		}},
		{name: "iam.ListUsers role session", check: func(d map[string]any) error {
			return botoExpect(fmt.Sprint(d["UserNames"]) == "[admin boto-user]", "users %v", d["UserNames"])
		}},
		{name: "iam.CreateUser role session", wantCode: "AccessDenied", wantStatus: 403},
		{name: "sts.GetCallerIdentity wrong secret", wantCode: "SignatureDoesNotMatch", wantStatus: 403},
		{name: "cloudtrail.LookupEvents", check: func(d map[string]any) error {
			evs, _ := d["Events"].([]any)
			for _, e := range evs {
				ev, _ := e.(map[string]any)
				detail, _ := ev["CloudTrailEvent"].(map[string]any)
				if ev["EventName"] == "CreateUser" && ev["Username"] == "admin" && ev["EventTimeIsDate"] == true &&
					fmt.Sprint(ev["Resources"]) == "[boto-user]" && detail["eventSource"] == "iam.amazonaws.com" {
					return nil
				}
			}
			return fmt.Errorf("no CreateUser event by admin on boto-user with a parsed EventTime in %v", evs)
		}},
	}
	checked := map[string]bool{}
	for _, tc := range tests {
		checked[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			r, ok := out.Results[tc.name]
			switch {
			case !ok:
				t.Fatalf("the script made no %s call", tc.name)
			case r.Exception != "":
				t.Fatalf("botocore raised %s", r.Exception)
			case tc.wantCode == "" && !r.OK:
				t.Fatalf("ClientError %s (HTTP %d): %s", r.Code, r.Status, r.Message)
			case tc.wantCode != "" && r.OK:
				t.Fatalf("succeeded with %v; want ClientError %s", r.Data, tc.wantCode)
			case tc.wantCode != "" && (r.Code != tc.wantCode || r.Status != tc.wantStatus):
				t.Fatalf("ClientError %s (HTTP %d): %s; want %s (HTTP %d)", r.Code, r.Status, r.Message, tc.wantCode, tc.wantStatus)
			case tc.wantCode != "" && r.Message == "":
				t.Errorf("ClientError %s has no message", r.Code)
			}
			if tc.check != nil {
				if err := tc.check(r.Data); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for name := range out.Results {
		if !checked[name] {
			t.Errorf("the script made a call the test does not check: %s", name)
		}
	}
	if t.Failed() {
		t.Logf("script output:\n%s\nstderr:\n%s", stdout, stderr.String())
	}
}

// botoStr is d[key] as a string ("" when absent or not a string).
func botoStr(d map[string]any, key string) string {
	s, _ := d[key].(string)
	return s
}

// botoExpect returns nil when ok, otherwise the formatted error.
func botoExpect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}
