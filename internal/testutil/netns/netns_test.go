//go:build linux

package netns_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/postern/postern/internal/testutil/netns"
)

// When the test binary is started with listenEnv set, it is a tiny TCP
// server (run inside a namespace by the tests): it listens on the address
// given, says so, and greets each connection.
const listenEnv = "NETNSTEST_LISTEN"

func TestMain(m *testing.M) {
	if addr := os.Getenv(listenEnv); addr != "" {
		serve(addr)
		return
	}
	if name := os.Getenv(doMainEnv); name != "" {
		os.Exit(doFromMainThread(name))
	}
	os.Exit(m.Run())
}

func serve(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening on", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		fmt.Fprintf(c, "hello from %s\n", addr)
		c.Close()
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// isNoRoute reports whether err is the immediate failure of a dial without
// a route (no packet sent, no timeout).
func isNoRoute(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

func greeting(t *testing.T, ctx context.Context, from *netns.NS, addr string) string {
	t.Helper()
	c, err := from.Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return line
}

// TestPrivateNetwork builds
//
//	host ==veth== priv (private0: 10.214.N.10/32, server on :8080) ==veth== other
//
// and checks who can reach whom; afterwards, that nothing is left.
func TestPrivateNetwork(t *testing.T) {
	netns.Require(t)
	var (
		nsNames  []string
		hostVeth string
		privNet  netip.Prefix
		server   *netns.Proc
	)
	t.Run("reachability", func(t *testing.T) {
		ctx := testContext(t)
		priv := netns.New(t, "priv")
		other := netns.New(t, "other")
		nsNames = []string{priv.Name, other.Name}
		privNet = netns.PrivateNet(t)
		privIP := netns.Nth(privNet, 10)
		priv.AddDummy(t, "private0", privIP.String()+"/32")
		hostLink := netns.Link(t, netns.Host, priv, "", "")
		hostVeth = hostLink.AName
		otherLink := netns.Link(t, other, priv, "", "")
		other.AddRoute(t, privNet.String(), otherLink.BAddr.Addr().String())

		// A server process inside priv, on the private address.
		privAddr := net.JoinHostPort(privIP.String(), "8080")
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := priv.Command(context.Background(), exe)
		cmd.Env = append(os.Environ(), listenEnv+"="+privAddr)
		server = priv.StartCmd(t, cmd)
		server.WaitFor(t, "listening on "+privAddr, time.Minute) // a -race binary starts slowly on a loaded machine

		// Inside priv, and from other (which has a route), the server answers.
		if got := greeting(t, ctx, priv, privAddr); got != "hello from "+privAddr+"\n" {
			t.Errorf("greeting in priv: %q", got)
		}
		if got := greeting(t, ctx, other, privAddr); got != "hello from "+privAddr+"\n" {
			t.Errorf("greeting from other: %q", got)
		}

		// From priv, the host end of the veth is reachable: a listener there
		// accepts, and sees priv's end as the peer.
		hostLn := netns.Host.Listen(t, "tcp", net.JoinHostPort(hostLink.AAddr.Addr().String(), "0"))
		accepted := make(chan net.Addr, 1)
		go func() {
			c, err := hostLn.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c.RemoteAddr()
			c.Close()
		}()
		if err := priv.CanDial(ctx, hostLn.Addr().String()); err != nil {
			t.Fatalf("host end %s from priv: %v", hostLn.Addr(), err)
		}
		peer := <-accepted
		if peer == nil || peer.(*net.TCPAddr).IP.String() != hostLink.BAddr.Addr().String() {
			t.Errorf("host listener saw peer %v; want %v", peer, hostLink.BAddr.Addr())
		}

		// From the host, the private address is not reachable: no route.
		if err := netns.Host.CanDial(ctx, privAddr); !isNoRoute(err) {
			t.Errorf("private %s from the host: %v; want no route", privAddr, err)
		}
		// From other, the host is not reachable: no route either.
		if err := other.CanDial(ctx, hostLn.Addr().String()); !isNoRoute(err) {
			t.Errorf("host %s from other: %v; want no route", hostLn.Addr(), err)
		}

		// Control: with a host route through the veth, the private address
		// answers — so the failure above was about routing alone.
		netns.Host.AddRoute(t, privIP.String()+"/32", hostLink.BAddr.Addr().String())
		if got := greeting(t, ctx, netns.Host, privAddr); got != "hello from "+privAddr+"\n" {
			t.Errorf("greeting from the host with a route: %q", got)
		}
	})
	if t.Failed() {
		return
	}

	// Everything the subtest made is gone.
	select {
	case <-server.Done():
	default:
		t.Errorf("server process %d still running", server.Cmd.Process.Pid)
	}
	list := netns.Host.IP(t, "netns", "list")
	for _, n := range nsNames {
		if strings.Contains(list, n) {
			t.Errorf("namespace %s left behind:\n%s", n, list)
		}
	}
	if links := netns.Host.IP(t, "-o", "link", "show"); strings.Contains(links, hostVeth) {
		t.Errorf("veth %s left behind:\n%s", hostVeth, links)
	}
	if routes := netns.Host.IP(t, "-4", "route", "show", "table", "all"); strings.Contains(routes, privNet.Masked().Addr().String()) {
		t.Errorf("route for %v left behind:\n%s", privNet, routes)
	}
}

// TestLinkExplicitAddresses links two namespaces with given addresses and
// uses Listen and Dial inside them.
func TestLinkExplicitAddresses(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	ctx := testContext(t)
	a := netns.New(t, "a")
	b := netns.New(t, "b")
	// Fixed addresses are fine between namespaces the test made.
	v := netns.Link(t, a, b, "192.168.77.1/24", "192.168.77.2/24")
	if v.AAddr.String() != "192.168.77.1/24" || len(v.AName) > 15 || len(a.Name) > 15 {
		t.Fatalf("veth %+v, namespace %q", v, a.Name)
	}
	b.AddAddress(t, v.BName, "192.168.77.3/24")
	l := b.Listen(t, "tcp", "192.168.77.3:80")
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("from b\n"))
			c.Close()
		}
	}()
	c, err := a.Dial(ctx, "tcp", "192.168.77.3:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	if line != "from b\n" {
		t.Errorf("got %q", line)
	}
	out := a.IP(t, "-o", "addr", "show", "dev", v.AName)
	if !strings.Contains(out, "192.168.77.1/24") {
		t.Errorf("a's end: %s", out)
	}
	// Commands run inside the namespace see its interfaces.
	cmdOut, err := b.Command(ctx, "ip", "-o", "addr", "show").CombinedOutput()
	if err != nil || !strings.Contains(string(cmdOut), "192.168.77.3/24") {
		t.Errorf("ip addr inside b: %v\n%s", err, cmdOut)
	}
}

func TestNthAndAllocation(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	if got := netns.Nth(netip.MustParsePrefix("10.214.7.0/24"), 10).String(); got != "10.214.7.10" {
		t.Errorf("Nth = %s", got)
	}
	seen := map[netip.Prefix]bool{}
	for range 4 {
		p := netns.PrivateNet(t)
		if seen[p] || !netns.PrivatePool.Contains(p.Addr()) || p.Bits() != 24 {
			t.Fatalf("PrivateNet gave %v (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
}

// When the test binary is started with doMainEnv set to a namespace name,
// it calls Do on that namespace from the main thread (see
// TestDoLeavesNoThreadInside) and exits 0 if the main thread is back in its
// own namespace afterwards, 1 if it is still inside.
const doMainEnv = "NETNSTEST_DO_MAIN"

func init() {
	if os.Getenv(doMainEnv) != "" {
		runtime.LockOSThread() // keeps the main goroutine on the main thread
	}
}

func doFromMainThread(name string) int {
	// Still on the main thread, which is now free to run Do's goroutine:
	// it is started there and runs as soon as this goroutine blocks.
	runtime.UnlockOSThread()
	ran := "elsewhere"
	if err := (&netns.NS{Name: name}).Do(func() error {
		if unix.Gettid() == os.Getpid() {
			ran = "main"
		}
		return nil
	}); err != nil {
		fmt.Println("Do:", err)
		return 2
	}
	var main, inside unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), os.Getpid()), &main); err != nil {
		fmt.Println(err)
		return 2
	}
	if err := unix.Stat("/run/netns/"+name, &inside); err != nil {
		fmt.Println(err)
		return 2
	}
	fmt.Println("fn ran on thread:", ran)
	if main.Ino == inside.Ino {
		return 1
	}
	return 0
}

// TestDoLeavesNoThreadInside: Do's goroutine may run on the main thread,
// which the Go runtime parks for good rather than ends; that thread must
// not stay inside the namespace, or the test process would count as one of
// the namespace's processes (and be stopped and killed with them at
// cleanup).
func TestDoLeavesNoThreadInside(t *testing.T) {
	ns := netns.New(t, "doleak")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), doMainEnv+"="+ns.Name)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		t.Fatalf("after Do, the main thread is still inside %s", ns.Name)
	} else if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// TestIPv6Network links a namespace to the host over IPv6 only, with a
// PrivateNet6 prefix, and dials across it at once (no duplicate address
// detection delay); the prefix is unreachable from the host otherwise.
func TestIPv6Network(t *testing.T) {
	netns.Require(t)
	t.Parallel()
	ctx := testContext(t)
	if got := netns.Nth6(netip.MustParsePrefix("fd12:3456:789a:1::/64"), 16).String(); got != "fd12:3456:789a:1::10" {
		t.Errorf("Nth6 = %s", got)
	}
	p := netns.PrivateNet6(t)
	q := netns.PrivateNet6(t)
	if p == q || p.Bits() != 64 || !netns.ULAPool.Contains(p.Addr()) {
		t.Fatalf("PrivateNet6 gave %v and %v", p, q)
	}
	n := netns.New(t, "v6")
	netns.Link(t, netns.Host, n, netns.Nth6(p, 1).String()+"/64", netns.Nth6(p, 2).String()+"/64")
	n.AddDummy(t, "private6", netns.Nth6(q, 10).String()+"/128")
	l := n.Listen(t, "tcp", net.JoinHostPort(netns.Nth6(p, 2).String(), "80"))
	go func() {
		c, err := l.Accept()
		if err == nil {
			fmt.Fprintf(c, "%s\n", c.RemoteAddr())
			c.Close()
		}
	}()
	c, err := netns.Host.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, _ := bufio.NewReader(c).ReadString('\n')
	if want := net.JoinHostPort(netns.Nth6(p, 1).String(), ""); !strings.HasPrefix(line, want) {
		t.Errorf("the namespace saw %q, want the host's end %s…", line, want)
	}
	// The dummy address is inside n only: the host has no route to it.
	if err := netns.Host.CanDial(ctx, net.JoinHostPort(netns.Nth6(q, 10).String(), "80")); err == nil {
		t.Errorf("the host reached a private IPv6 address")
	}
}
