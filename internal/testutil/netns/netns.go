// Package netns builds small private networks out of Linux network
// namespaces for tests: a namespace per "machine", veth pairs as cables,
// dummy interfaces for addresses that must not be reachable from outside,
// and routes. It needs root and iproute2's `ip`; call Require first, which
// skips the test without them (and fails it when CI is set, so CI never
// silently skips).
//
//	netns.Require(t)
//	priv := netns.New(t, "priv")                  // a namespace, lo up
//	pn := netns.PrivateNet(t)                     // e.g. 10.214.7.0/24
//	ip := netns.Nth(pn, 10)                       // 10.214.7.10
//	priv.AddDummy(t, "private0", ip.String()+"/32")
//	v := netns.Link(t, netns.Host, priv, "", "")  // veth host<->priv, a free /30
//	p := priv.Start(t, "/usr/sbin/sshd", ...)     // a process inside priv
//	err := netns.Host.CanDial(ctx, ip.String()+":22") // no route: fails
//
// The host's own namespace is Host (a nil *NS); every method accepts it.
// Link addresses come from 10.213.0.0/16 (a /30 per link) and private
// networks from 10.214.0.0/16 (a /24 each); PrivateNet6 gives IPv6 ones, a
// random unique local /64 each. Allocation skips anything the
// host already has an address or route in and is serialised across
// processes with a lock file, so parallel tests and test binaries do not
// collide. PrivateNet also installs an "unreachable" route for its /24 on
// the host, so a packet for a private address can never leak to the host's
// default route: without a more specific route the host gets "no route to
// host" at once.
//
// Everything a test makes — namespaces, the processes in them, links,
// host addresses and routes — is removed by t.Cleanup, also when the test
// fails. Inside a namespace the test made, fixed ports (22, 80) are fine.
package netns

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/postern/postern/internal/testutil/ci"
	"github.com/postern/postern/internal/testutil/internal/proctree"
)

// Address pools; see the package documentation.
var (
	LinkPool    = netip.MustParsePrefix("10.213.0.0/16")
	PrivatePool = netip.MustParsePrefix("10.214.0.0/16")
)

// Host is the host's (the test process's) network namespace.
var Host *NS

// NS is a network namespace made by New, or Host when nil.
type NS struct {
	// Name is the name `ip netns` knows it by (at most 15 characters).
	Name string
}

var (
	probeOnce sync.Once
	probeErr  error
	ipBin     string
)

// Require skips t unless network namespaces can be used here (root, `ip`
// present, `ip netns add` and setns working). When the CI environment
// variable is set (to anything but "false" or "0") it fails t instead.
func Require(t testing.TB) {
	t.Helper()
	probeOnce.Do(func() { probeErr = probe() })
	if probeErr == nil {
		return
	}
	if ci.Strict() {
		t.Fatalf("netns: network namespaces unusable: %v (CI is set, so this fails instead of skipping; run as root after `make test-deps`)", probeErr)
	}
	t.Skipf("netns: network namespaces unusable: %v", probeErr)
}

func probe() error {
	if runtime.GOOS != "linux" {
		return errors.New("needs Linux")
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	p, err := exec.LookPath("ip")
	if err != nil {
		return fmt.Errorf("ip (iproute2) not found: %v; run `make test-deps`", err)
	}
	ipBin = p
	n := &NS{Name: "pstprobe" + randHex(3)}
	if _, err := run("netns", "add", n.Name); err != nil {
		return err
	}
	defer run("netns", "del", n.Name)
	if err := n.Do(func() error { return nil }); err != nil {
		return fmt.Errorf("entering a namespace: %v", err)
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// run runs ip with args and returns its combined output; the error
// includes the output.
func run(args ...string) (string, error) {
	bin := ipBin
	if bin == "" {
		bin = "ip"
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// New creates a uniquely named namespace (prefix, cut to 8 characters,
// plus a random suffix), brings its loopback up, and at cleanup kills every
// process in it and deletes it. It calls Require.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	Require(t)
	var b strings.Builder
	for _, r := range strings.ToLower(prefix) {
		if b.Len() < 8 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("ns")
	}
	n := &NS{Name: b.String() + "-" + randHex(3)}
	if _, err := run("netns", "add", n.Name); err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() { n.destroy(t) })
	n.IP(t, "link", "set", "lo", "up")
	return n
}

// destroy kills the processes in n, then deletes it.
func (n *NS) destroy(t testing.TB) {
	// A few rounds, in case a process forks into n while it is being killed.
	for round := 0; ; round++ {
		out, _ := run("netns", "pids", n.Name)
		var pids []int
		for _, f := range strings.Fields(out) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if pid == os.Getpid() {
				// A thread of this process is still inside n: killing
				// "it" would stop and kill the test binary itself.
				t.Errorf("netns: the test process itself (a thread left behind by Do?) is inside %s; not killing it", n.Name)
				continue
			}
			pids = append(pids, pid)
		}
		if len(pids) == 0 {
			break
		}
		if round == 5 {
			t.Errorf("netns: processes %v still in %s after SIGKILL", pids, n.Name)
			break
		}
		for _, pid := range pids {
			proctree.Kill(pid)
		}
		proctree.WaitGone(pids, 10*time.Second)
	}
	if _, err := run("netns", "del", n.Name); err != nil {
		t.Errorf("netns: %v", err)
	}
}

// String returns the namespace name, or "host".
func (n *NS) String() string {
	if n == nil {
		return "host"
	}
	return n.Name
}

// ipArgs prefixes args with "-n NAME" unless n is the host.
func (n *NS) ipArgs(args ...string) []string {
	if n == nil {
		return args
	}
	return append([]string{"-n", n.Name}, args...)
}

// IP runs `ip -n NAME args...` (plain `ip args...` for Host) and returns
// its output; a failure is fatal. Whatever it creates on the host is not
// cleaned up automatically.
func (n *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := run(n.ipArgs(args...)...)
	if err != nil {
		t.Fatalf("netns: in %s: %v", n, err)
	}
	return out
}

// cleanupIP registers `ip args...` in n as a cleanup step. Failures are
// reported only for the host: a namespace is deleted as a whole anyway.
func (n *NS) cleanupIP(t testing.TB, args ...string) {
	t.Cleanup(func() {
		if _, err := run(n.ipArgs(args...)...); err != nil && n == nil {
			t.Errorf("netns: cleanup on the host: %v", err)
		}
	})
}

// AddAddress adds cidr (e.g. "10.213.0.1/30") to iface in n; removed at
// cleanup.
func (n *NS) AddAddress(t testing.TB, iface, cidr string) {
	t.Helper()
	n.IP(t, addrAdd(cidr, iface)...)
	n.cleanupIP(t, "addr", "del", cidr, "dev", iface)
}

var fallbackOnce sync.Once

// addrAdd is `ip addr add CIDR dev IFACE`, with nodad for an IPv6
// address: usable at once instead of "tentative" (unbindable) for the
// second or so duplicate address detection takes.
func addrAdd(cidr, iface string) []string {
	args := []string{"addr", "add", cidr, "dev", iface}
	if p, err := netip.ParsePrefix(cidr); err == nil && p.Addr().Is6() {
		args = append(args, "nodad")
	}
	return args
}

// AddDummy creates interface name in n carrying cidr, up: an address that
// exists only inside n (a "private" address). It is a dummy interface, or,
// where the kernel has no dummy driver, a veth pair whose both ends stay in
// n — the same to everything outside n. Removed at cleanup.
func (n *NS) AddDummy(t testing.TB, name, cidr string) {
	t.Helper()
	out, err := run(n.ipArgs("link", "add", name, "type", "dummy")...)
	if err != nil {
		if !strings.Contains(out, "Unknown device type") && !strings.Contains(out, "not supported") {
			t.Fatalf("netns: in %s: %v", n, err)
		}
		fallbackOnce.Do(func() {
			t.Logf("netns: this kernel has no dummy interfaces; using veth pairs inside the namespace instead")
		})
		peer := "pd" + randHex(4)
		n.IP(t, "link", "add", name, "type", "veth", "peer", "name", peer)
		n.IP(t, "link", "set", peer, "up")
	}
	n.cleanupIP(t, "link", "del", name)
	n.IP(t, addrAdd(cidr, name)...)
	n.IP(t, "link", "set", name, "up")
}

// AddRoute adds a route to dst (a prefix, an address or "default") via the
// gateway via, in n; removed at cleanup.
func (n *NS) AddRoute(t testing.TB, dst, via string) {
	t.Helper()
	n.IP(t, "route", "add", dst, "via", via)
	n.cleanupIP(t, "route", "del", dst, "via", via)
}

// Veth is a veth pair made by Link: end A (interface AName with address
// AAddr) in namespace A, end B in B.
type Veth struct {
	A, B         *NS
	AName, BName string
	AAddr, BAddr netip.Prefix
}

// Link connects a and b (either may be Host) with a veth pair, gives the
// ends the addresses aCIDR and bCIDR, and brings both up. With both CIDRs
// empty, a free /30 is allocated from LinkPool: a gets its first host
// address, b the second. The pair is removed at cleanup.
func Link(t testing.TB, a, b *NS, aCIDR, bCIDR string) *Veth {
	t.Helper()
	Require(t)
	id := randHex(4)
	v := &Veth{A: a, B: b, AName: "pv" + id + "a", BName: "pv" + id + "b"}
	if aCIDR == "" && bCIDR == "" {
		// Hold the host lock until the addresses are in place, so that no
		// other test process picks the same /30.
		unlock := lockHost(t)
		defer unlock()
		p := allocate(t, LinkPool, 30)
		v.AAddr = netip.PrefixFrom(Nth(p, 1), 30)
		v.BAddr = netip.PrefixFrom(Nth(p, 2), 30)
	} else {
		var err error
		if v.AAddr, err = netip.ParsePrefix(aCIDR); err != nil {
			t.Fatalf("netns: Link: %v", err)
		}
		if v.BAddr, err = netip.ParsePrefix(bCIDR); err != nil {
			t.Fatalf("netns: Link: %v", err)
		}
	}
	args := []string{"link", "add", v.AName}
	if a != nil {
		args = append(args, "netns", a.Name)
	}
	args = append(args, "type", "veth", "peer", "name", v.BName)
	if b != nil {
		args = append(args, "netns", b.Name)
	}
	if _, err := run(args...); err != nil {
		t.Fatalf("netns: %v", err)
	}
	a.cleanupIP(t, "link", "del", v.AName) // deleting one end deletes both
	a.IP(t, addrAdd(v.AAddr.String(), v.AName)...)
	b.IP(t, addrAdd(v.BAddr.String(), v.BName)...)
	a.IP(t, "link", "set", v.AName, "up")
	b.IP(t, "link", "set", v.BName, "up")
	return v
}

// PrivateNet allocates a free /24 from PrivatePool for the test's
// "private" addresses and installs an unreachable route for it on the host
// (see the package documentation); released at cleanup.
func PrivateNet(t testing.TB) netip.Prefix {
	t.Helper()
	Require(t)
	unlock := lockHost(t)
	defer unlock()
	p := allocate(t, PrivatePool, 24)
	Host.IP(t, "route", "add", "unreachable", p.String())
	Host.cleanupIP(t, "route", "del", "unreachable", p.String())
	return p
}

// ULAPool is where PrivateNet6 takes IPv6 networks from: the locally
// assigned unique local addresses (RFC 4193).
var ULAPool = netip.MustParsePrefix("fd00::/8")

// PrivateNet6 allocates a random /64 of ULAPool (a random 40-bit global id,
// as RFC 4193 has it) that overlaps no IPv6 address or route of the host,
// and installs an unreachable route for it on the host, as PrivateNet
// does; released at cleanup. Give addresses in it with Nth6; they are
// added without duplicate address detection (usable at once).
func PrivateNet6(t testing.TB) netip.Prefix {
	t.Helper()
	Require(t)
	unlock := lockHost(t)
	defer unlock()
	used, err := hostPrefixes6()
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	for range 100 {
		var a [16]byte
		crand.Read(a[1:8])
		a[0] = 0xfd
		cand := netip.PrefixFrom(netip.AddrFrom16(a), 64)
		if inUse[cand] || overlapsAny(cand, used) {
			continue
		}
		inUse[cand] = true
		t.Cleanup(func() {
			allocMu.Lock()
			delete(inUse, cand)
			allocMu.Unlock()
		})
		Host.IP(t, "route", "add", "unreachable", cand.String())
		Host.cleanupIP(t, "route", "del", "unreachable", cand.String())
		return cand
	}
	t.Fatalf("netns: no free /64 found in %v", ULAPool)
	return netip.Prefix{}
}

// Nth6 returns the i-th address of the IPv6 prefix p (Nth6(fd12::/64, 16)
// is fd12::10).
func Nth6(p netip.Prefix, i uint64) netip.Addr {
	a := p.Masked().Addr().As16()
	binary.BigEndian.PutUint64(a[8:], binary.BigEndian.Uint64(a[8:])+i)
	return netip.AddrFrom16(a)
}

// Nth returns the i-th address of prefix p (Nth(10.214.7.0/24, 10) is
// 10.214.7.10).
func Nth(p netip.Prefix, i int) netip.Addr {
	a := p.Masked().Addr().As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])+uint32(i))
	return netip.AddrFrom4(a)
}

var (
	allocMu sync.Mutex // held with the lock file; guards inUse
	inUse   = map[netip.Prefix]bool{}
)

// lockHost serialises allocation within this process and, through an
// flock on a shared file, with other test processes.
func lockHost(t testing.TB) (unlock func()) {
	t.Helper()
	allocMu.Lock()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "postern-netns.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	}
	if err != nil {
		allocMu.Unlock()
		t.Fatalf("netns: lock file: %v", err)
	}
	return func() {
		f.Close() // releases the flock
		allocMu.Unlock()
	}
}

// allocate picks a random free subnet of size /bits inside pool: not handed
// out in this process and overlapping no host address or route. The caller
// holds lockHost.
func allocate(t testing.TB, pool netip.Prefix, bits int) netip.Prefix {
	t.Helper()
	used, err := hostPrefixes()
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	n := 1 << (bits - pool.Bits())
	start := rand.IntN(n)
	base := pool.Masked().Addr().As4()
	for i := range n {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(base[:])+uint32((start+i)%n)<<(32-bits))
		cand := netip.PrefixFrom(netip.AddrFrom4(a), bits)
		if inUse[cand] || overlapsAny(cand, used) {
			continue
		}
		inUse[cand] = true
		t.Cleanup(func() {
			allocMu.Lock()
			delete(inUse, cand)
			allocMu.Unlock()
		})
		return cand
	}
	t.Fatalf("netns: no free /%d left in %v", bits, pool)
	return netip.Prefix{}
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// routeTypes are the words `ip route` may put before a destination.
var routeTypes = map[string]bool{
	"unicast": true, "local": true, "broadcast": true, "multicast": true, "throw": true,
	"unreachable": true, "prohibit": true, "blackhole": true, "nat": true, "anycast": true,
}

// hostPrefixes lists the host's IPv4 address prefixes and route
// destinations (all tables), without the default route.
func hostPrefixes() ([]netip.Prefix, error) { return hostPrefixesOf("-4", "inet") }

// hostPrefixes6 is hostPrefixes for IPv6.
func hostPrefixes6() ([]netip.Prefix, error) { return hostPrefixesOf("-6", "inet6") }

// hostPrefixesOf lists one family's address prefixes (`ip <family> addr`,
// the word before each address is addrWord) and route destinations.
func hostPrefixesOf(family, addrWord string) ([]netip.Prefix, error) {
	var list []netip.Prefix
	addrs, err := run(family, "-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(addrs, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == addrWord {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					list = append(list, p.Masked())
				}
				break
			}
		}
	}
	routes, err := run(family, "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(routes, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && routeTypes[f[0]] {
			f = f[1:]
		}
		if len(f) == 0 || f[0] == "default" {
			continue
		}
		if p, err := netip.ParsePrefix(f[0]); err == nil {
			list = append(list, p.Masked())
		} else if a, err := netip.ParseAddr(f[0]); err == nil {
			list = append(list, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return list, nil
}

// ExecPrefix returns the argv prefix that runs a command inside n
// (`ip netns exec NAME`), e.g. for sshdtest.Options.CommandPrefix; nil for
// Host.
func (n *NS) ExecPrefix() []string {
	if n == nil {
		return nil
	}
	bin := ipBin
	if bin == "" {
		bin = "ip"
	}
	return []string{bin, "netns", "exec", n.Name}
}

// Command returns a command running name with args inside n
// (`ip netns exec NAME name args...`; `ip` execs name, so the process is
// name itself). For Host it is a plain exec.CommandContext.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := append(append(n.ExecPrefix(), name), args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// Do runs fn on an OS thread that has entered n, and returns its error.
// Sockets fn creates (net.Dial, net.Listen with IP literals) belong to n.
// fn must not hand work that creates sockets to other goroutines. The
// thread is thrown away afterwards, never reused by other goroutines.
func (n *NS) Do(fn func() error) error {
	if n == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: when this goroutine ends while locked, the Go
		// runtime terminates the thread. Except the main thread: the
		// runtime cannot end it and parks it for good instead, so the
		// thread is moved back to its own namespace first — otherwise
		// the whole test process would count as a process inside n
		// (`ip netns pids`), and destroy would SIGSTOP and kill it.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		f, err := os.Open(filepath.Join("/run/netns", n.Name))
		if err != nil {
			errc <- err
			return
		}
		err = setns(int(f.Fd()))
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		err = fn()
		if rerr := setns(int(orig.Fd())); rerr != nil && err == nil {
			err = fmt.Errorf("netns: returning from %s: %w", n.Name, rerr)
		}
		errc <- err
	}()
	return <-errc
}

// Dial connects to addr (an IP literal and port) from inside n.
func (n *NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// CanDial reports whether a TCP connection to addr can be made from inside
// n: nil if it can, the dial error otherwise. Without a deadline in ctx it
// gives up after 3 seconds.
func (n *NS) CanDial(ctx context.Context, addr string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
	}
	c, err := n.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// WaitDial polls CanDial from n until addr accepts a connection, failing t
// after timeout: for waiting on a server process started in a namespace.
func (n *NS) WaitDial(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := n.CanDial(ctx, addr)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("netns: %s not reachable from %s after %v: %v", addr, n, timeout, err)
		case <-tick.C:
		}
	}
}

// Listen opens a listener on addr inside n (in this process), closed at
// cleanup.
func (n *NS) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		t.Fatalf("netns: listen on %s in %s: %v", addr, n, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Proc is a background process started by Start or StartCmd.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error

	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{} // signalled (never blocking) on each write
	stop    sync.Once
}

type procWriter struct{ p *Proc }

func (w procWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	w.p.out.Write(b)
	w.p.mu.Unlock()
	select {
	case w.p.changed <- struct{}{}:
	default:
	}
	return len(b), nil
}

// Start starts name with args inside n in the background (see StartCmd).
func (n *NS) Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	return n.StartCmd(t, n.Command(context.Background(), name, args...))
}

// StartCmd starts cmd (typically from n.Command, with Env or Dir set) in
// the background, capturing its stdout and stderr. At cleanup it is killed
// with everything it started, and its output is logged if t failed.
func (n *NS) StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{}), changed: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = procWriter{p}, procWriter{p}
	cmd.WaitDelay = 5 * time.Second // bounds Wait if a grandchild keeps the pipes
	if err := cmd.Start(); err != nil {
		t.Fatalf("netns: starting %q in %s: %v", cmd.Args, n, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("netns: output of %q:\n%s", cmd.Args, p.Output())
		}
	})
	return p
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error; valid once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Stop kills the process and everything it started, and waits for it.
// Safe to call more than once.
func (p *Proc) Stop() {
	p.stop.Do(func() {
		select {
		case <-p.done:
		default:
			proctree.Kill(p.Cmd.Process.Pid)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
}

// WaitFor waits until the output contains substr, failing t if the process
// exits first or timeout passes.
func (p *Proc) WaitFor(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !strings.Contains(p.Output(), substr) {
		select {
		case <-p.changed:
		case <-p.done:
			if strings.Contains(p.Output(), substr) {
				return
			}
			t.Fatalf("netns: %q exited (%v) before writing %q; output:\n%s", p.Cmd.Args, p.err, substr, p.Output())
		case <-timer.C:
			t.Fatalf("netns: %q did not write %q within %v; output:\n%s", p.Cmd.Args, substr, timeout, p.Output())
		}
	}
}
