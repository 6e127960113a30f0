package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/postern/postern/internal/testutil/netns"
	"github.com/postern/postern/internal/testutil/sshdtest"
)

// TestIPv6AcrossNetworkNamespaces runs Postern over IPv6 in namespaces the
// test makes:
//
//   - the server in the host namespace, listening on two addresses (one
//     --listen flag, comma-separated): an IPv6 ULA address on a veth to the
//     agent's namespace, and 127.0.0.1;
//   - an agent namespace reachable from the host over IPv6 only (no IPv4
//     address on its link), where the endpoint agent joins the server by
//     its bracketed IPv6 address and keeps its link across a server
//     restart;
//   - an IPv6-only target namespace (a ULA /64 of the VPC's block, which
//     CreateVpc's AmazonProvidedIpv6CidrBlock handed out) with an sshd on
//     an instance that has no private IPv4 address: the client's
//     --instance-id look-up falls back to its Ipv6Address;
//   - an IPv4-only target namespace with an sshd on an instance in the
//     dual-stack subnet whose IPv6 block associate-subnet-cidr-block added.
//
// One dualstack endpoint serves both targets; each sshd sees the agent's
// address on its link as the client (no client IP preservation).
func TestIPv6AcrossNetworkNamespaces(t *testing.T) {
	netns.Require(t)
	ctx := context.Background()

	agentNS := netns.New(t, "agent6")
	tgt6 := netns.New(t, "tgt6")
	tgt4 := netns.New(t, "tgt4")
	link6 := netns.PrivateNet6(t) // host <-> agent: IPv6 only
	hostIP, agentIP := netns.Nth6(link6, 1), netns.Nth6(link6, 2)
	netns.Link(t, netns.Host, agentNS, hostIP.String()+"/64", agentIP.String()+"/64")
	pn := netns.PrivateNet(t) // the VPC's IPv4 block

	// The server: no embedded agent, known by its IPv6 address, listening
	// there and on 127.0.0.1.
	dataDir := filepath.Join(t.TempDir(), "data")
	ports := []*reservedPort{reservePort(t, hostIP), reservePort(t, netip.MustParseAddr("127.0.0.1"))}
	listen6, listen4 := ports[0].addr, ports[1].addr
	writeServerConfig(t, dataDir, fmt.Sprintf("version: 1\npublic_host: '%s'\nadvertise: '%s'\nagent:\n  embedded: false\n", hostIP, listen6))
	srv := startServerOn(t, dataDir, ports)
	if want := "https://" + listen6; srv.url != want {
		t.Errorf("the server says it runs on %s, want %s", srv.url, want)
	}
	// Both listeners answer, with the same certificate (CA in the client
	// configuration, 127.0.0.1 among its names).
	admin := srv.adminConfig(t)
	for _, addr := range []string{listen6, listen4} {
		who, err := sts.NewFromConfig(admin, func(o *sts.Options) { o.BaseEndpoint = aws.String("https://" + addr) }).
			GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || aws.ToString(who.Account) == "" {
			t.Fatalf("GetCallerIdentity on %s: %v\n%s", addr, err, srv.output())
		}
	}

	// The network, through the CLI.
	var vpc struct {
		Vpc struct {
			VpcId                       string
			Ipv6CidrBlockAssociationSet []struct{ AssociationId, Ipv6CidrBlock string }
		}
	}
	srv.mustJSON(t, &vpc, "ec2", "create-vpc", "--cidr-block", pn.String(), "--amazon-provided-ipv6-cidr-block")
	if len(vpc.Vpc.Ipv6CidrBlockAssociationSet) != 1 {
		t.Fatalf("create-vpc --amazon-provided-ipv6-cidr-block: %+v", vpc)
	}
	block := netip.MustParsePrefix(vpc.Vpc.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock)
	if block.Bits() != 56 || !netip.MustParsePrefix("fd00::/8").Contains(block.Addr()) {
		t.Fatalf("the VPC's IPv6 block %s is not a ULA /56", block)
	}
	if block.Overlaps(link6) {
		t.Fatalf("the VPC's random block %s overlaps the test's link %s", block, link6)
	}
	dualNet := subnet64(block, 0)   // the endpoint's subnet: IPv4 and IPv6
	v6OnlyNet := subnet64(block, 1) // the IPv6-only target's subnet
	vpcID := vpc.Vpc.VpcId

	var dual struct{ Subnet struct{ SubnetId string } }
	srv.mustJSON(t, &dual, "ec2", "create-subnet", "--vpc-id", vpcID, "--cidr-block", pn.String())
	var assoc struct {
		SubnetId                 string
		Ipv6CidrBlockAssociation struct {
			AssociationId, Ipv6CidrBlock string
			Ipv6CidrBlockState           struct{ State string }
		}
	}
	srv.mustJSON(t, &assoc, "ec2", "associate-subnet-cidr-block", "--subnet-id", dual.Subnet.SubnetId, "--ipv6-cidr-block", dualNet.String())
	if assoc.Ipv6CidrBlockAssociation.Ipv6CidrBlock != dualNet.String() || assoc.Ipv6CidrBlockAssociation.Ipv6CidrBlockState.State != "associated" {
		t.Fatalf("associate-subnet-cidr-block: %+v", assoc)
	}
	var v6only struct{ Subnet struct{ SubnetId string } }
	srv.mustJSON(t, &v6only, "ec2", "create-subnet", "--vpc-id", vpcID, "--ipv6-native", "--ipv6-cidr-block", v6OnlyNet.String())

	// The instances' group: ssh from the VPC, IPv4 and IPv6. Made in a VPC
	// with an IPv6 block, it allows all out on both families.
	var sg struct{ GroupId string }
	srv.mustJSON(t, &sg, "ec2", "create-security-group", "--group-name", "ssh", "--description", "ssh from the VPC", "--vpc-id", vpcID)
	var groups struct {
		SecurityGroups []struct {
			IpPermissionsEgress []struct {
				IpRanges   []struct{ CidrIp string }
				Ipv6Ranges []struct{ CidrIpv6 string }
			}
		}
	}
	srv.mustJSON(t, &groups, "ec2", "describe-security-groups", "--group-ids", sg.GroupId)
	if e := groups.SecurityGroups[0].IpPermissionsEgress; len(e) != 1 || len(e[0].IpRanges) != 1 || len(e[0].Ipv6Ranges) != 1 || e[0].Ipv6Ranges[0].CidrIpv6 != "::/0" {
		t.Errorf("egress of a group in a VPC with IPv6: %+v, want 0.0.0.0/0 and ::/0", e)
	}
	perms, _ := json.Marshal([]map[string]any{
		{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": []map[string]string{{"CidrIp": pn.String()}}},
		{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Ipv6Ranges": []map[string]string{{"CidrIpv6": block.String()}}},
	})
	srv.mustCLI(t, "ec2", "authorize-security-group-ingress", "--group-id", sg.GroupId, "--ip-permissions", string(perms))

	ip6, ip4 := netns.Nth6(v6OnlyNet, 0x10), netns.Nth(pn, 10)
	agentOn6, agentOn4 := netns.Nth6(v6OnlyNet, 1), netns.Nth(pn, 1)
	var reg struct{ Instances []struct{ InstanceId string } }
	srv.mustJSON(t, &reg, "ec2", "register-instance", "--subnet-id", v6only.Subnet.SubnetId, "--ipv6-address", ip6.String(), "--security-group-ids", sg.GroupId)
	inst6 := reg.Instances[0].InstanceId
	srv.mustJSON(t, &reg, "ec2", "register-instance", "--subnet-id", dual.Subnet.SubnetId, "--private-ip-address", ip4.String(), "--security-group-ids", sg.GroupId)
	inst4 := reg.Instances[0].InstanceId

	var ep struct {
		InstanceConnectEndpoint struct{ InstanceConnectEndpointId, DnsName, IpAddressType string }
	}
	srv.mustJSON(t, &ep, "ec2", "create-instance-connect-endpoint", "--subnet-id", dual.Subnet.SubnetId, "--ip-address-type", "dualstack")
	endpointID := ep.InstanceConnectEndpoint.InstanceConnectEndpointId
	if ep.InstanceConnectEndpoint.DnsName != listen6 || ep.InstanceConnectEndpoint.IpAddressType != "dualstack" {
		t.Errorf("endpoint %+v, want DnsName %s and dualstack", ep.InstanceConnectEndpoint, listen6)
	}
	var tok struct{ JoinToken, Server string }
	srv.mustJSON(t, &tok, "ec2", "create-endpoint-join-token", "--instance-connect-endpoint-id", endpointID)
	if tok.Server != listen6 {
		t.Errorf("join token names server %q, want the bracketed IPv6 %q", tok.Server, listen6)
	}

	// The targets: on links from the agent's namespace, each in its
	// family only.
	netns.Link(t, agentNS, tgt6, agentOn6.String()+"/64", ip6.String()+"/64")
	netns.Link(t, agentNS, tgt4, agentOn4.String()+"/24", ip4.String()+"/24")
	sshAddr6, sshAddr4 := net.JoinHostPort(ip6.String(), "22"), net.JoinHostPort(ip4.String(), "22")
	sshd6 := sshdtest.Start(t, sshdtest.Options{ListenAddr: sshAddr6, CommandPrefix: tgt6.ExecPrefix(),
		Ready: func(ctx context.Context) error { return tgt6.CanDial(ctx, sshAddr6) }})
	sshd4 := sshdtest.Start(t, sshdtest.Options{ListenAddr: sshAddr4, CommandPrefix: tgt4.ExecPrefix(),
		Ready: func(ctx context.Context) error { return tgt4.CanDial(ctx, sshAddr4) }})
	if v4 := tgt6.IP(t, "-4", "-o", "addr", "show", "scope", "global"); strings.TrimSpace(v4) != "" {
		t.Fatalf("the IPv6-only target has IPv4 addresses:\n%s", v4)
	}
	// The server is reachable from the agent's namespace over IPv6 only.
	if err := agentNS.CanDial(ctx, listen4); err == nil {
		t.Fatalf("the agent's namespace reaches the server's IPv4 listener %s", listen4)
	}

	stateDir := filepath.Join(t.TempDir(), "agent-state")
	cmd := agentNS.Command(context.Background(), binPath, "endpoint-agent", "--state-dir", stateDir, "--join-token", tok.JoinToken)
	cmd.Env = cleanEnv()
	agentProc := agentNS.StartCmd(t, cmd)
	logs := func() string {
		return srv.output() + "\n--- sshd (IPv6) log:\n" + sshd6.Log() + "\n--- sshd (IPv4) log:\n" + sshd4.Log() +
			"\n--- agent output:\n" + agentProc.Output()
	}
	since := srv.waitAgentConnected(t, endpointID, "", logs)
	waitUntil(t, 30*time.Second, "the endpoint to be create-complete", logs, func() (bool, string) {
		out := srv.mustCLI(t, "ec2", "describe-instance-connect-endpoints", "--instance-connect-endpoint-ids", endpointID)
		return strings.Contains(out, `"create-complete"`), out
	})
	var agents struct{ EndpointAgents []struct{ Address string } }
	srv.mustJSON(t, &agents, "ec2", "describe-endpoint-agents", "--instance-connect-endpoint-id", endpointID)
	if len(agents.EndpointAgents) != 1 || !strings.Contains(agents.EndpointAgents[0].Address, agentIP.String()) {
		t.Errorf("the agent's address %+v, want its IPv6 address %s", agents.EndpointAgents, agentIP)
	}

	// sshOK runs a command through the tunnel (ProxyCommand open-tunnel
	// --instance-id, which looks the instance's address up) and checks
	// where it ran and whom the target saw.
	proxy := fmt.Sprintf("'%s' ec2-instance-connect open-tunnel --instance-id %%h", binPath)
	sshOK := func(when string, sshd *sshdtest.Server, instanceID string, target, agentAddr netip.Addr) {
		t.Helper()
		out, errOut, code := runSSH(t, sshd.Command(ctx, proxy, instanceID, `echo "$SSH_CONNECTION"`), srv.env())
		f := strings.Fields(out)
		if code != 0 || len(f) != 4 || f[0] != agentAddr.String() || f[2] != target.String() || f[3] != "22" {
			t.Fatalf("%s: ssh to %s (%s) through the tunnel: exit %d, stdout %q, stderr %q; want SSH_CONNECTION from %s to %s port 22\n%s",
				when, instanceID, target, code, out, errOut, agentAddr, target, logs())
		}
	}
	sshOK("IPv6-only instance", sshd6, inst6, ip6, agentOn6)
	sshOK("IPv4 instance, same endpoint", sshd4, inst4, ip4, agentOn4)

	// postern ssh (the shortcut of ec2-instance-connect ssh) through the
	// endpoint, with a key file: the instance's Ipv6Address, looked up.
	sshd6.AllowHost(ip6.String())
	args := []string{"ssh", "--connection-type", "eice", "--private-key-file", sshd6.UserKeyPath, "--os-user", sshd6.User, inst6,
		"-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + sshd6.KnownHostsPath, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", `echo "$SSH_CONNECTION"`}
	out, errOut, code := runSSH(t, exec.Command(binPath, args...), srv.env())
	if f := strings.Fields(out); code != 0 || len(f) != 4 || f[0] != agentOn6.String() || f[2] != ip6.String() {
		t.Fatalf("postern ssh --connection-type eice to the IPv6-only instance: exit %d, stdout %q, stderr %q\n%s", code, out, errOut, logs())
	}

	// The server restarted on the same addresses: the agent comes back
	// over IPv6 by itself.
	if err := srv.stop(); err != nil {
		t.Fatalf("stopping the server: %v\n%s", err, logs())
	}
	first := srv.output()
	srv, err := tryStartServerOn(t, dataDir, ports)
	if err != nil {
		t.Fatalf("restarting the server: %v\nfirst run:\n%s", err, first)
	}
	srv.waitAgentConnected(t, endpointID, since, logs)
	sshOK("IPv6-only instance after a server restart", sshd6, inst6, ip6, agentOn6)
}

// subnet64 is the i-th /64 of a /56.
func subnet64(block netip.Prefix, i byte) netip.Prefix {
	a := block.Masked().Addr().As16()
	a[7] += i
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// TestApplyIPv6: postern apply associates an IPv6 block the file adds to
// an existing VPC and subnet (AssociateVpcCidrBlock,
// AssociateSubnetCidrBlock), is then a no-op, and refuses to swap a block.
func TestApplyIPv6(t *testing.T) {
	srv := startBareServer(t, filepath.Join(t.TempDir(), "data"))
	file := filepath.Join(t.TempDir(), "network.yaml")
	apply := func(spec string) (string, string, int) {
		t.Helper()
		writeFile(t, file, spec)
		return srv.cli(t, nil, "apply", "-f", file)
	}
	const v4only = "version: 1\nvpcs:\n  - name: lab\n    cidr: 10.0.0.0/16\n    subnets:\n      - name: a\n        cidr: 10.0.1.0/24\n"
	const dual = "version: 1\nvpcs:\n  - name: lab\n    cidr: 10.0.0.0/16\n    ipv6_cidr: fd00:1:2:300::/56\n    subnets:\n      - name: a\n        cidr: 10.0.1.0/24\n        ipv6_cidr: fd00:1:2:301::/64\n"
	if out, errOut, code := apply(v4only); code != 0 {
		t.Fatalf("first apply: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := apply(dual)
	if code != 0 || !strings.Contains(out, "~ vpc lab (vpc-") || !strings.Contains(out, "associate IPv6 CIDR fd00:1:2:300::/56") ||
		!strings.Contains(out, "associate IPv6 CIDR fd00:1:2:301::/64") {
		t.Fatalf("apply adding IPv6: exit %d\n%s%s", code, out, errOut)
	}
	vpcs := srv.mustCLI(t, "ec2", "describe-vpcs")
	subnets := srv.mustCLI(t, "ec2", "describe-subnets")
	if !strings.Contains(vpcs, `"fd00:1:2:300::/56"`) || !strings.Contains(subnets, `"fd00:1:2:301::/64"`) {
		t.Fatalf("blocks not associated:\n%s\n%s", vpcs, subnets)
	}
	if out, errOut, code := apply(dual); code != 0 || !strings.Contains(out, "0 to create, 0 to change") {
		t.Fatalf("second apply not a no-op: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = apply(strings.Replace(dual, "fd00:1:2:300::/56", "fd00:1:2:400::/56", 1))
	if code == 0 || !strings.Contains(errOut, "disassociate it first") {
		t.Fatalf("apply swapping the VPC block: exit %d %s", code, errOut)
	}
}
