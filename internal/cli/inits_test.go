package cli_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxInitBytes is the most a Postern package's initialisation may
// allocate. Every postern process (the ProxyCommand path included) runs
// the init of every package the binary links, the server's too; a
// package-level regexp.MustCompile of a pattern with a counted repetition
// ({2,64}) allocates tens of KB and costs every process start 0.1–2 ms, so
// such values are built on first use (sync.OnceValue) instead.
const maxInitBytes = 8 << 10

var initLine = regexp.MustCompile(`^init (\S+) @\S+ ms, \S+ ms clock, (\d+) bytes, (\d+) allocs`)

// TestPackageInitsAllocateLittle runs this test binary again with
// GODEBUG=inittrace=1 (it links internal/cli and through it every package
// of the postern binary, server included) and checks each Postern
// package's init against maxInitBytes.
func TestPackageInitsAllocateLittle(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("re-running the test binary: %v\n%s", err, stderr.String())
	}
	seen := 0
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		pkg := m[1]
		if !strings.HasPrefix(pkg, "github.com/postern/postern/") || strings.Contains(pkg, "/testutil/") || strings.HasSuffix(pkg, "_test") {
			continue
		}
		seen++
		if n, _ := strconv.Atoi(m[2]); n > maxInitBytes {
			t.Errorf("%s: its init allocates %d bytes in %s allocations (at most %d): build package-level values on first use (sync.OnceValue)",
				pkg, n, m[3], maxInitBytes)
		}
	}
	// The trace names the packages whose init does any work: the console,
	// the EC2 API and the CLI's own, at least.
	if seen < 3 {
		t.Fatalf("the init trace named %d Postern packages; GODEBUG=inittrace=1 output:\n%s", seen, stderr.String())
	}
}
