package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// nonrootID is distroless's nonroot user and group.
const nonrootID = 65532

// distrolessRoot makes dir a root filesystem shaped like
// gcr.io/distroless/static-debian12:nonroot (no shell, no libc: users,
// CA certificates, tzdata, /tmp, the nonroot home), plus what a container
// runtime adds when it starts one (/etc/hosts, /etc/hostname, /proc and
// /dev mount points; unshare mounts /proc).
func distrolessRoot(t *testing.T, dir string) {
	t.Helper()
	dirs := []struct {
		path string
		mode fs.FileMode
		uid  int
	}{
		{"etc/ssl/certs", 0o755, 0}, {"usr/share/zoneinfo", 0o755, 0}, {"tmp", 0o777 | fs.ModeSticky, 0},
		{"root", 0o700, 0}, {"home/nonroot", 0o700, nonrootID}, {"proc", 0o555, 0}, {"dev", 0o755, 0},
		{"var/lib", 0o755, 0}, {"usr/local/bin", 0o755, 0},
	}
	for _, d := range dirs {
		p := filepath.Join(dir, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, d.uid, d.uid); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":      "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n",
		"etc/os-release": "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\n",
		"etc/hosts":      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"etc/hostname":   "postern-container\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The host's CA bundle and UTC zone when it has them: their content
	// does not matter here, their presence is the image's.
	for _, name := range []string{"etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo/UTC"} {
		b, _ := os.ReadFile("/" + name) // empty when the host lacks it
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// imageRoot assembles target's image in a new directory: the distroless
// base and the target's COPY --from=build lines applied to the build
// stage's output out. It returns the root and the target's volumes.
func imageRoot(t *testing.T, cf *containerfile, target, out string) (root string, volumes []string) {
	t.Helper()
	s := cf.stage(t, target)
	if !strings.HasPrefix(s.from, "gcr.io/distroless/static") || !strings.HasSuffix(s.from, ":nonroot") {
		t.Fatalf("Containerfile: target %s is FROM %s; the test assembles distroless/static:nonroot", target, s.from)
	}
	root = t.TempDir()
	distrolessRoot(t, root)
	for _, c := range s.all("COPY") {
		uid, gid := 0, 0
		f := strings.Fields(c)
		var rest []string
		fromBuild := false
		for _, w := range f {
			switch {
			case w == "--from=build":
				fromBuild = true
			case strings.HasPrefix(w, "--chown="):
				u, g, _ := strings.Cut(strings.TrimPrefix(w, "--chown="), ":")
				var err1, err2 error
				uid, err1 = strconv.Atoi(u)
				gid, err2 = strconv.Atoi(g)
				if err1 != nil || err2 != nil {
					t.Fatalf("Containerfile: COPY %s: --chown must be numeric (the image has no /etc/passwd lookup at build)", c)
				}
			case strings.HasPrefix(w, "--"):
				t.Fatalf("Containerfile: COPY %s: option %s unknown to the test", c, w)
			default:
				rest = append(rest, w)
			}
		}
		if !fromBuild || len(rest) != 2 || !strings.HasPrefix(rest[0], containerBuildOut) {
			t.Fatalf("Containerfile: COPY %s: want COPY --from=build %sSRC DST", c, containerBuildOut)
		}
		src := filepath.Join(out, strings.TrimPrefix(rest[0], containerBuildOut))
		dst := filepath.Join(root, rest[1])
		copyTree(t, src, dst, uid, gid)
	}
	volumes = s.jsonList(t, "VOLUME")
	return root, volumes
}

// copyTree copies src (a file or a directory: its content, into dst with
// src's mode, as BuildKit's COPY does) to dst, owned uid:gid.
func copyTree(t *testing.T, src, dst string, uid, gid int) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if err := os.MkdirAll(target, info.Mode().Perm()); err != nil {
				return err
			}
		} else {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, info.Mode().Perm()); err != nil {
				return err
			}
		}
		if err := os.Chmod(target, info.Mode().Perm()); err != nil {
			return err
		}
		return os.Chown(target, uid, gid)
	})
	if err != nil {
		t.Fatalf("COPY %s %s: %v", src, dst, err)
	}
}

// fileState is what snapshot records of one path.
type fileState struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
}

// snapshot records every path under root (not below its /proc, which the
// container's own mount namespace covers).
func snapshot(t *testing.T, root string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		m["/"+filepath.ToSlash(rel)] = fileState{info.Mode(), info.Size(), info.ModTime()}
		if rel == "proc" {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// changedOutside returns the paths added or changed between before and
// after that lie outside the volumes: what a container would lose when
// it is re-created.
func changedOutside(before, after map[string]fileState, volumes []string) []string {
	var out []string
	for p, st := range after {
		inVolume := false
		for _, v := range volumes {
			if p == v || strings.HasPrefix(p, v+"/") {
				inVolume = true
			}
		}
		if old, ok := before[p]; !inVolume && (!ok || old != st) {
			out = append(out, p)
		}
	}
	return out
}

// containerProc is one process run in an assembled image root: chrooted,
// as the image's USER, in a mount namespace of its own with /proc
// mounted, as a container runtime starts it (the network is the host's:
// the test reaches it on loopback).
type containerProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex // guards out and changed
	out  bytes.Buffer
	// changed is closed and replaced at each line of output.
	changed chan struct{}
	exitErr error
}

// containerCmd returns the command that runs args in root as user (UID:GID)
// with the image's environment plus env, in distroless's WORKDIR (which
// the runtime enters before it drops to user, as runc does: an arbitrary
// UID keeps a working directory it cannot read).
func containerCmd(root, user string, env []string, args ...string) *exec.Cmd {
	uid, gid, _ := strings.Cut(user, ":")
	unshare := append([]string{"--mount", "--mount-proc=/proc", "--root=" + root, "--wd=/home/nonroot",
		"--setgid", gid, "--setuid", uid, "--"}, args...)
	cmd := exec.Command("unshare", unshare...)
	// The image's environment (distroless sets PATH and SSL_CERT_FILE) and
	// what the runtime adds (HOME, HOSTNAME).
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=" + runtimeHome(root, uid), "HOSTNAME=postern-container"}, env...)
	return cmd
}

// runtimeHome is the HOME a container runtime sets for uid: its home in
// the image's /etc/passwd, "/" when the image has no entry for it (docker
// and CRI-O both do so; OpenShift's arbitrary UIDs have none).
func runtimeHome(root, uid string) string {
	b, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) >= 6 && f[2] == uid {
			return f[5]
		}
	}
	return "/"
}

// startContainer starts args in root (see containerCmd), stopped with
// SIGTERM when the test ends.
func startContainer(t *testing.T, root, user string, env []string, args ...string) *containerProc {
	t.Helper()
	p := &containerProc{cmd: containerCmd(root, user, env, args...), done: make(chan struct{}), changed: make(chan struct{})}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		r.Close()
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *containerProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitOutput waits until cond holds for the output so far.
func (p *containerProc) waitOutput(t *testing.T, what string, cond func(out string) bool) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		p.mu.Lock()
		out, changed := p.out.String(), p.changed
		p.mu.Unlock()
		if cond(out) {
			return out
		}
		select {
		case <-changed:
		case <-p.done:
			if out := p.output(); cond(out) {
				return out
			}
			t.Fatalf("exited (%v) before %s:\n%s", p.exitErr, what, p.output())
		case <-timeout:
			t.Fatalf("no %s after 60s:\n%s", what, p.output())
		}
	}
}

// stop sends SIGTERM (unshare execs the program: the process is the
// container's) and waits for the exit, which must be clean.
func (p *containerProc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%v did not stop within 30s of SIGTERM:\n%s", p.cmd.Args, p.output())
		return
	}
	if p.exitErr != nil {
		t.Errorf("%v after SIGTERM: %v\n%s", p.cmd.Args, p.exitErr, p.output())
	}
}

// withListen returns cmd (the image's CMD) with --listen's value replaced,
// as `docker run IMAGE --listen ADDR` replaces it.
func withListen(t *testing.T, cmd []string, addr string) []string {
	t.Helper()
	out := append([]string(nil), cmd...)
	for i, a := range out {
		if a == "--listen" && i+1 < len(out) {
			out[i+1] = addr
			return out
		}
	}
	t.Fatalf("Containerfile: the server's CMD %q sets no --listen for docker run's arguments to replace", cmd)
	return nil
}

// publicFiles are the files in the server's volume that hold no secret
// (the CA and server certificates, the SSH signer's public key): the
// server writes them readable by all, behind the volume's mode.
var publicFiles = map[string]bool{"ca.pem": true, "server.pem": true, "ssh-signer.pub": true}

// arbitraryUID is a UID such as OpenShift's restricted policy picks from a
// project's range to run an image as, whatever its USER says: in group 0,
// with no entry in the image's /etc/passwd.
const arbitraryUID = 1000870000

// TestContainerImage runs the image's two targets as a container runtime
// would, in root filesystems assembled like distroless/static:nonroot from
// the Containerfile's own lines (the base images cannot be pulled here):
// the server answers /healthz over TLS and the AWS SDK for Go v2 with the
// credentials it created; the agent joins it with a join token from it;
// each keeps its state in its VOLUME and writes nothing elsewhere. Each
// runs as the image's USER and as an arbitrary UID in group 0 (OpenShift).
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image's binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: a container's root is a chroot, its user 65532")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare(1) (util-linux) to run a process in a chroot with its own /proc")
	}
	cf := parseContainerfile(t, filepath.Join(repoRoot(t), "packaging", "Containerfile"))
	out := buildContainerStage(t, cf)
	for _, s := range []*stage{cf.stage(t, "server"), cf.stage(t, "agent")} {
		if got, want := s.last("USER"), fmt.Sprintf("%d:%d", nonrootID, nonrootID); got != want {
			t.Fatalf("Containerfile: USER %q, want %q (distroless's nonroot, which owns the volumes)", got, want)
		}
	}
	for _, c := range []struct{ name, user string }{
		{"USER", cf.stage(t, "server").last("USER")},
		{"arbitrary_uid_gid_0", fmt.Sprintf("%d:0", arbitraryUID)},
	} {
		t.Run(c.name, func(t *testing.T) { runImage(t, cf, out, c.user) })
	}
}

// runImage runs the server and the agent (assembled from the build
// stage's output out) as user (UID:GID), as TestContainerImage tells.
func runImage(t *testing.T, cf *containerfile, out, user string) {
	server, agent := cf.stage(t, "server"), cf.stage(t, "agent")
	uidStr, _, _ := strings.Cut(user, ":")
	uid, err := strconv.Atoi(uidStr)
	if err != nil {
		t.Fatal(err)
	}

	// The server, as `docker run IMAGE --listen 127.0.0.1:0`.
	serverRoot, serverVolumes := imageRoot(t, cf, "server", out)
	if probe, err := containerCmd(serverRoot, user, nil, "/usr/local/bin/postern", "--version").CombinedOutput(); err != nil {
		if strings.HasPrefix(string(probe), "unshare:") {
			t.Skipf("cannot run a process in a chroot with its own mount namespace here: %s", probe)
		}
		t.Fatalf("postern --version in the image: %v\n%s", err, probe)
	}
	serverBefore := snapshot(t, serverRoot)
	srv := startContainer(t, serverRoot, user, nil,
		append(server.jsonList(t, "ENTRYPOINT"), withListen(t, server.jsonList(t, "CMD"), "127.0.0.1:0")...)...)
	welcome := srv.waitOutput(t, "welcome text", func(out string) bool {
		return strings.Contains(out, "\n  postern sts get-caller-identity\n")
	})
	_, rest, _ := strings.Cut(welcome, "Postern is running on ")
	url := strings.Fields(rest)[0]
	dataDir := filepath.Join(serverRoot, serverVolumes[0])

	ca, err := os.ReadFile(filepath.Join(dataDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v\n%s", err, srv.output())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s %s", resp.Status, body)
	}

	// The files the server wrote, as `docker cp` gives them to a user; the
	// CA bundle they name is the container's path, so it is given as such.
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithSharedConfigFiles([]string{filepath.Join(dataDir, "config")}),
		awsconfig.WithSharedCredentialsFiles([]string{filepath.Join(dataDir, "credentials")}),
		awsconfig.WithSharedConfigProfile("postern"),
		awsconfig.WithCustomCABundle(bytes.NewReader(ca)),
	)
	if err != nil {
		t.Fatal(err)
	}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v\n%s", err, srv.output())
	}
	if !strings.HasSuffix(aws.ToString(who.Arn), ":user/admin") {
		t.Errorf("GetCallerIdentity: %s, want the admin the server created", aws.ToString(who.Arn))
	}

	// An endpoint for the agent, and its join token from `docker exec
	// SERVER postern ec2 create-endpoint-join-token …`.
	ec2c := ec2.NewFromConfig(cfg)
	vpc, err := ec2c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.77.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := ec2c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.77.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := ec2c.CreateInstanceConnectEndpoint(ctx, &ec2.CreateInstanceConnectEndpointInput{SubnetId: subnet.Subnet.SubnetId})
	if err != nil {
		t.Fatal(err)
	}
	endpointID := aws.ToString(ep.InstanceConnectEndpoint.InstanceConnectEndpointId)
	clientEnv := []string{"AWS_CONFIG_FILE=" + serverVolumes[0] + "/config",
		"AWS_SHARED_CREDENTIALS_FILE=" + serverVolumes[0] + "/credentials", "AWS_PROFILE=postern"}
	tokJSON, err := containerCmd(serverRoot, user, clientEnv, "postern", "ec2", "create-endpoint-join-token",
		"--instance-connect-endpoint-id", endpointID).Output()
	if err != nil {
		t.Fatalf("postern ec2 create-endpoint-join-token in the server's container: %v", err)
	}
	var tok struct{ JoinToken string }
	if err := json.Unmarshal(tokJSON, &tok); err != nil || tok.JoinToken == "" {
		t.Fatalf("create-endpoint-join-token: %v: %s", err, tokJSON)
	}

	// The agent, as `docker run -e POSTERN_JOIN_TOKEN=… IMAGE`.
	agentRoot, agentVolumes := imageRoot(t, cf, "agent", out)
	agentBefore := snapshot(t, agentRoot)
	ag := startContainer(t, agentRoot, user, []string{"POSTERN_JOIN_TOKEN=" + tok.JoinToken},
		append(agent.jsonList(t, "ENTRYPOINT"), agent.jsonList(t, "CMD")...)...)
	logs := func() string { return "server:\n" + srv.output() + "agent:\n" + ag.output() }
	waitUntil(t, 60*time.Second, "the agent's endpoint to be create-complete", logs, func() (bool, string) {
		d, err := ec2c.DescribeInstanceConnectEndpoints(ctx, &ec2.DescribeInstanceConnectEndpointsInput{InstanceConnectEndpointIds: []string{endpointID}})
		if err != nil {
			return false, err.Error()
		}
		if len(d.InstanceConnectEndpoints) != 1 {
			return false, fmt.Sprintf("%d endpoints", len(d.InstanceConnectEndpoints))
		}
		st := d.InstanceConnectEndpoints[0].State
		return st == "create-complete", string(st)
	})
	// Restarted without the token (`docker restart`), the agent joins again
	// with the identity its volume kept.
	agentState := func() (bool, string) {
		out, err := containerCmd(serverRoot, user, clientEnv, "postern", "ec2", "describe-endpoint-agents",
			"--instance-connect-endpoint-id", endpointID).Output()
		var agents struct{ EndpointAgents []struct{ State string } }
		if err != nil || json.Unmarshal(out, &agents) != nil || len(agents.EndpointAgents) != 1 {
			return false, fmt.Sprintf("describe-endpoint-agents: %v: %s", err, out)
		}
		return agents.EndpointAgents[0].State == "connected", agents.EndpointAgents[0].State
	}
	// Joined is not yet connected: the agent dials again with the identity
	// it saved (create-complete comes with the join).
	waitUntil(t, 60*time.Second, "the agent to connect", logs, agentState)
	ag.stop(t)
	waitUntil(t, 60*time.Second, "the agent to be disconnected", logs, func() (bool, string) {
		ok, state := agentState()
		return !ok, state
	})
	ag = startContainer(t, agentRoot, user, nil,
		append(agent.jsonList(t, "ENTRYPOINT"), agent.jsonList(t, "CMD")...)...)
	waitUntil(t, 60*time.Second, "the restarted agent to connect", logs, agentState)
	ag.stop(t)
	srv.stop(t)

	for _, c := range []struct {
		name         string
		root         string
		volumes      []string
		before       map[string]fileState
		wantInVolume string
	}{
		{"server", serverRoot, serverVolumes, serverBefore, "postern.db"},
		{"agent", agentRoot, agentVolumes, agentBefore, ""},
	} {
		after := snapshot(t, c.root)
		for _, v := range c.volumes {
			if st, ok := after[v]; !ok || !st.mode.IsDir() || st.mode.Perm()&0o007 != 0 {
				t.Errorf("%s: volume %s is %v, want a directory others cannot enter", c.name, v, st.mode)
			}
		}
		if outside := changedOutside(c.before, after, c.volumes); len(outside) > 0 {
			t.Errorf("%s: written outside its volumes %v: %v", c.name, c.volumes, outside)
		}
		written := 0
		for p, st := range after {
			for _, v := range c.volumes {
				if !strings.HasPrefix(p, v+"/") {
					continue
				}
				written++
				info, err := os.Lstat(filepath.Join(c.root, p))
				if err != nil {
					t.Fatal(err)
				}
				sys := info.Sys().(*syscall.Stat_t)
				if int(sys.Uid) != uid {
					t.Errorf("%s: %s (%v) owned by uid %d, want %d", c.name, p, st.mode, sys.Uid, uid)
				}
				// The volume gives group 0 the owner's access (an arbitrary
				// UID is in it): what the process writes there must keep
				// that group, like others, away from its secrets.
				if st.mode.Perm()&0o077 != 0 && !publicFiles[filepath.Base(p)] {
					t.Errorf("%s: %s is %v: readable or writable by its group (%d) or others", c.name, p, st.mode, sys.Gid)
				}
			}
		}
		// The agent keeps more than its lock: the identity it joined with.
		if written < 2 {
			t.Errorf("%s: %d files in its volumes %v: its state is not there", c.name, written, c.volumes)
		}
		if c.wantInVolume != "" {
			if _, ok := after[c.volumes[0]+"/"+c.wantInVolume]; !ok {
				t.Errorf("%s: no %s in %s", c.name, c.wantInVolume, c.volumes[0])
			}
		}
	}
}
