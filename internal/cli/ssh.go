package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/postern/postern/internal/client"
)

// sshOptions are `ec2-instance-connect ssh`'s flags, as the AWS CLI names
// them (docs/aws-compat.md §1.9).
type sshOptions struct {
	instanceID, instanceIP, privateKeyFile, osUser, localForwarding, connectionType, eiceOptions string
	sshPort                                                                                      int
	extra                                                                                        []string // ssh arguments after the destination
}

func sshCommand(env *Env) *cobra.Command {
	o := sshOptions{}
	cmd := &cobra.Command{
		Use:   "ssh",
		Short: "SSH to an instance with a one-minute key pushed with SendSSHPublicKey, through its endpoint when it is private",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runSSH(cmd.Context(), env, o) },
	}
	addSSHFlags(cmd, &o)
	cmd.Flags().StringVar(&o.instanceID, "instance-id", "", "the instance (required)")
	_ = cmd.MarkFlagRequired("instance-id")
	return cmd
}

func addSSHFlags(cmd *cobra.Command, o *sshOptions) {
	f := cmd.Flags()
	f.StringVar(&o.instanceIP, "instance-ip", "", "connect to this address (needs --connection-type direct or eice)")
	f.StringVar(&o.privateKeyFile, "private-key-file", "", "use this key instead of pushing a new one-minute key")
	f.StringVar(&o.osUser, "os-user", "ec2-user", "the user to log in as")
	f.IntVar(&o.sshPort, "ssh-port", 22, "the instance's SSH port")
	f.StringVar(&o.localForwarding, "local-forwarding", "", "ssh -L forwarding: [bind_address:]port:host:hostport")
	f.StringVar(&o.connectionType, "connection-type", "auto", "auto, direct or eice")
	f.StringVar(&o.eiceOptions, "eice-options", "", "maxTunnelDuration=N,endpointId=eice-…,dnsName=…")
}

// sshShortcut is `postern ssh [user@]i-… [ssh arguments]`.
func sshShortcut(env *Env) *cobra.Command {
	o := sshOptions{}
	cmd := &cobra.Command{
		Use:   "ssh [USER@]INSTANCE-ID [SSH ARGUMENTS…]",
		Short: "SSH to an instance keylessly (shortcut of `ec2-instance-connect ssh`); arguments after the instance go to ssh",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dest := args[0]
			if user, inst, ok := strings.Cut(dest, "@"); ok {
				o.osUser, dest = user, inst
			}
			o.instanceID = dest
			o.extra = args[1:]
			return runSSH(cmd.Context(), env, o)
		},
	}
	cmd.Flags().SetInterspersed(false) // what follows the instance is ssh's
	addSSHFlags(cmd, &o)
	return cmd
}

var (
	endpointOptRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^eice-[0-9a-zA-Z_]+$`) })
	dnsOptRe      = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-zA-Z.:-]+$`) })
)

// parseEICEOptions reads --eice-options.
func parseEICEOptions(s string) (maxDur int, endpoint, dns string, err error) {
	if s == "" {
		return 0, "", "", nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return 0, "", "", fmt.Errorf("--eice-options: %q is not key=value", kv)
		}
		switch k {
		case "maxTunnelDuration":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 3600 {
				return 0, "", "", errors.New("--eice-options: maxTunnelDuration must be from 1 to 3600")
			}
			maxDur = n
		case "endpointId":
			if !endpointOptRe().MatchString(v) {
				return 0, "", "", fmt.Errorf("--eice-options: endpointId %q is not an eice- id", v)
			}
			endpoint = v
		case "dnsName":
			if !dnsOptRe().MatchString(v) {
				return 0, "", "", fmt.Errorf("--eice-options: dnsName %q is not a DNS name", v)
			}
			dns = v
		default:
			return 0, "", "", fmt.Errorf("--eice-options: unknown option %q", k)
		}
	}
	if dns != "" && endpoint == "" {
		return 0, "", "", errors.New("--eice-options: dnsName needs endpointId")
	}
	return maxDur, endpoint, dns, nil
}

func runSSH(ctx context.Context, env *Env, o sshOptions) error {
	if !instanceIDRe().MatchString(o.instanceID) {
		return usageErr("%q is not an instance id (i-…)", o.instanceID)
	}
	maxDur, endpointID, dnsName, err := parseEICEOptions(o.eiceOptions)
	if err != nil {
		return usageErr("%v", err)
	}
	switch o.connectionType {
	case "auto", "direct", "eice":
	default:
		return usageErr("--connection-type must be auto, direct or eice")
	}
	if o.eiceOptions != "" {
		if o.connectionType == "direct" {
			return usageErr("--eice-options cannot be used with --connection-type direct")
		}
		o.connectionType = "eice"
	}
	if o.instanceIP != "" && o.connectionType == "auto" {
		return usageErr("--instance-ip needs --connection-type direct or eice")
	}
	if o.sshPort < 1 || o.sshPort > 65535 {
		return usageErr("--ssh-port %d is not a port", o.sshPort)
	}
	cfg, err := env.LoadAWSConfig(ctx)
	if err != nil {
		return err
	}
	ec2c := ec2.NewFromConfig(cfg, func(eo *ec2.Options) { setEndpoint(&eo.BaseEndpoint, env.g.endpointURL) })
	out, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{o.instanceID}})
	if err != nil {
		return apiError("DescribeInstances", err)
	}
	if len(out.Reservations) == 0 || len(out.Reservations[0].Instances) == 0 {
		return &exitError{code: ExitOther, msg: fmt.Sprintf("The instance ID '%s' does not exist.", o.instanceID)}
	}
	inst := out.Reservations[0].Instances[0]
	ip, tunnel, err := chooseAddress(inst, o.instanceIP, o.connectionType)
	if err != nil {
		return &exitError{code: ExitOther, msg: err.Error()}
	}
	var proxy string
	if tunnel {
		t := client.Target{InstanceID: o.instanceID, EndpointID: endpointID, DNSName: dnsName, PrivateIP: ip, RemotePort: o.sshPort, MaxTunnelDuration: maxDur}
		if err := client.ResolveEndpoint(ctx, ec2c, &t, aws.ToString(inst.VpcId), aws.ToString(inst.SubnetId)); err != nil {
			var re *client.ResolveError
			if errors.As(err, &re) {
				return &exitError{code: ExitOther, msg: re.Message}
			}
			return apiError("DescribeInstanceConnectEndpoints", err)
		}
		if proxy, err = env.proxyCommand(t); err != nil {
			return &exitError{code: ExitOther, msg: err.Error()}
		}
	}
	keyFile := o.privateKeyFile
	if keyFile == "" {
		dir, err := os.MkdirTemp("", "postern-ssh-")
		if err != nil {
			return &exitError{code: ExitOther, msg: err.Error()}
		}
		defer os.RemoveAll(dir)
		pubLine, path, err := writeEphemeralKey(dir)
		if err != nil {
			return &exitError{code: ExitOther, msg: err.Error()}
		}
		keyFile = path
		eic := ec2instanceconnect.NewFromConfig(cfg, func(eo *ec2instanceconnect.Options) { setEndpoint(&eo.BaseEndpoint, env.g.endpointURL) })
		if _, err := eic.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{InstanceId: aws.String(o.instanceID),
			InstanceOSUser: aws.String(o.osUser), SSHPublicKey: aws.String(pubLine)}); err != nil {
			return apiError("SendSSHPublicKey", err)
		}
	}
	args := []string{
		// Keepalives that notice a dead path but never drop an idle
		// session (the AWS CLI's ServerAliveInterval=5 alone drops
		// sessions where ServerAliveCountMax is 0).
		"-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
		"-p", strconv.Itoa(o.sshPort), "-i", keyFile,
	}
	if o.privateKeyFile == "" {
		args = append(args, "-o", "IdentitiesOnly=yes") // offer the pushed key first, not an agent's
	}
	if o.localForwarding != "" {
		args = append(args, "-L", o.localForwarding)
	}
	if env.g.debug {
		args = append(args, "-v")
	}
	if proxy != "" {
		args = append(args, "-o", "ProxyCommand="+proxy)
	}
	args = append(args, o.osUser+"@"+ip)
	args = append(args, o.extra...)
	sshBin := os.Getenv("POSTERN_SSH")
	if sshBin == "" {
		sshBin = "ssh"
	}
	c := exec.CommandContext(ctx, sshBin, args...)
	c.Stdin, c.Stdout, c.Stderr = env.Stdin, env.Stdout, env.Stderr
	err = c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return &exitError{code: ee.ExitCode(), msg: ""}
	}
	return &exitError{code: ExitOther, msg: "postern: cannot run ssh: " + err.Error()}
}

// chooseAddress picks the address and whether to tunnel (docs/aws-compat.md §1.9).
func chooseAddress(inst ec2types.Instance, given, kind string) (ip string, tunnel bool, err error) {
	pub, priv, v6 := aws.ToString(inst.PublicIpAddress), aws.ToString(inst.PrivateIpAddress), aws.ToString(inst.Ipv6Address)
	switch kind {
	case "direct":
		ip = firstNonEmpty(given, pub, v6, priv)
	case "eice":
		ip, tunnel = firstNonEmpty(given, priv, v6), true
	default:
		switch {
		case pub != "":
			ip = pub
		case priv != "":
			ip, tunnel = priv, true
		default:
			ip = v6
		}
	}
	if ip == "" {
		return "", false, errors.New("Unable to find any IP address on the instance to connect to.")
	}
	return ip, tunnel, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// proxyCommand is the ProxyCommand that re-invokes this binary's
// open-tunnel with everything resolved, so it makes no API call.
func (env *Env) proxyCommand(t client.Target) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if abs, err := filepath.EvalSymlinks(exe); err == nil {
		exe = abs
	}
	parts := []string{exe, "ec2-instance-connect", "open-tunnel", "--instance-id", t.InstanceID,
		"--private-ip-address", t.PrivateIP, "--remote-port", strconv.Itoa(t.RemotePort),
		"--instance-connect-endpoint-id", t.EndpointID, "--instance-connect-endpoint-dns-name", t.DNSName}
	if t.MaxTunnelDuration > 0 {
		parts = append(parts, "--max-tunnel-duration", strconv.Itoa(t.MaxTunnelDuration))
	}
	for flag, v := range map[string]string{"--region": env.g.region, "--profile": env.g.profile, "--ca-bundle": env.g.caBundle} {
		if v != "" {
			parts = append(parts, flag, v)
		}
	}
	if env.g.noVerifySSL {
		parts = append(parts, "--no-verify-ssl")
	}
	quoted := make([]string, len(parts))
	for i, p := range parts {
		quoted[i] = shellQuote(p)
	}
	return strings.Join(quoted, " "), nil
}

// shellQuote quotes s for the shell ssh runs its ProxyCommand with.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeEphemeralKey makes an Ed25519 key in dir (mode 0400) and returns
// its public half in authorized_keys form and the private key's path.
func writeEphemeralKey(dir string) (string, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	block, err := ssh.MarshalPrivateKey(priv, "postern ephemeral key")
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, "private-key")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o400); err != nil {
		return "", "", err
	}
	spk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(spk))), path, nil
}
