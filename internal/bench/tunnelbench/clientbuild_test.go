package tunnelbench

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/internal/testutil/posternbin"
)

// BenchmarkProxyCommandBuilds is the ProxyCommand path and the cold start
// for both builds of postern, exec by exec alternated (A B, then B A)
// against one `postern server` (full build, embedded agent): the full
// build (`make build`, release postern-OS-ARCH) and the client build that
// workstations run (`make client`, -tags postern_client, release
// postern-client-OS-ARCH). $POSTERN_BIN and $POSTERN_CLIENT_BIN name
// other binaries. Each exec's wall time, CPU (user + system of the
// process, its whole run) and minor page faults; metrics prefixed full-
// and client-.
//
//	version       `postern version`, exec to exit: the process start
//	proxycommand  `open-tunnel --instance-id I --remote-port P` on
//	              stdin/stdout (DescribeInstances, then
//	              DescribeInstanceConnectEndpoints), as ssh's ProxyCommand
//	              runs it: exec to the first byte echoed on its stdout
//	coldstart     the same with --local-port: exec to the first byte
//	              echoed through a connection to that port
func BenchmarkProxyCommandBuilds(b *testing.B) {
	builds := []struct{ name, bin string }{
		{"full", posternBinary(b)},
		{"client", posternbin.ClientPath(b)},
	}
	port := listen(b, echo)
	s := startServerProcsWith(b, 1<<20, true)
	if s.localInstance == "" {
		b.Fatalf("the server did not say which instance it serves:\n%s", s.server.Out.String())
	}
	lookup := []string{"ec2-instance-connect", "open-tunnel", "--instance-id", s.localInstance, "--remote-port", strconv.Itoa(port)}
	version := func(bin string, env, _ []string) (time.Duration, *os.ProcessState, error) {
		cmd := exec.Command(bin, "version")
		cmd.Env = env
		start := time.Now()
		err := cmd.Run()
		return time.Since(start), cmd.ProcessState, err
	}
	cases := []struct {
		name string
		run  func(bin string, env, args []string) (time.Duration, *os.ProcessState, error)
	}{
		{"version", version},
		{"proxycommand", openCLI},
		{"coldstart", openCLILocal},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			runs := make([]buildRuns, len(builds))
			for i := range b.N {
				for _, j := range abOrder(len(builds), i) {
					d, ps, err := c.run(builds[j].bin, s.env, lookup)
					if err != nil {
						b.Fatalf("%s build: %v", builds[j].name, err)
					}
					runs[j].add(d, ps)
				}
			}
			for j, r := range runs {
				r.report(b, builds[j].name+"-")
			}
		})
	}
}

// buildRuns are one build's execs: wall time, CPU and minor faults each.
type buildRuns struct {
	wall, cpu latencies
	faults    []int64
}

func (r *buildRuns) add(wall time.Duration, ps *os.ProcessState) {
	r.wall = append(r.wall, wall)
	r.cpu = append(r.cpu, ps.UserTime()+ps.SystemTime())
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		r.faults = append(r.faults, ru.Minflt)
	}
}

// report reports p50 and p99 wall time, p50 CPU and the median of the
// minor faults, each metric's unit prefixed with prefix.
func (r *buildRuns) report(b *testing.B, prefix string) {
	if len(r.wall) == 0 {
		return
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(r.wall.percentile(50)), prefix+"p50-ms")
	b.ReportMetric(ms(r.wall.percentile(99)), prefix+"p99-ms")
	b.ReportMetric(ms(r.cpu.percentile(50)), prefix+"cpu-p50-ms")
	if f := slices.Clone(r.faults); len(f) > 0 {
		slices.Sort(f)
		b.ReportMetric(float64(f[len(f)/2]), prefix+"faults-p50")
	}
}
