package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The container image (packaging/Containerfile) cannot be built where the
// tests run: its base images live in registries CI cannot reach. So the
// tests read the file itself, run its build stage's RUN line with the Go
// toolchain at hand, and assemble each target's root filesystem from its
// COPY lines (container_test.go): when the file changes, the tests follow.

// containerfile is a parsed Containerfile: enough of its syntax for
// packaging/Containerfile (ARG, FROM … AS, one instruction a line after
// joining continuations; JSON-form ENTRYPOINT, CMD and VOLUME).
type containerfile struct {
	args   map[string]string // the ARGs before the first FROM, with their defaults
	stages map[string]*stage // by AS name
}

// stage is one FROM … AS NAME and its instructions.
type stage struct {
	from   string
	instrs [][2]string // instruction (upper case), its arguments
}

// parseContainerfile reads path.
func parseContainerfile(t *testing.T, path string) *containerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cf := &containerfile{args: map[string]string{}, stages: map[string]*stage{}}
	var cur *stage
	var logical strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(cont)
			continue
		}
		logical.WriteString(line)
		text := strings.TrimSpace(logical.String())
		logical.Reset()
		instr, rest, _ := strings.Cut(text, " ")
		instr, rest = strings.ToUpper(instr), strings.TrimSpace(rest)
		switch {
		case instr == "FROM":
			f := strings.Fields(rest)
			if len(f) != 3 || !strings.EqualFold(f[1], "AS") {
				t.Fatalf("Containerfile: FROM without AS NAME: %q", text)
			}
			cur = &stage{from: f[0]}
			cf.stages[f[2]] = cur
		case cur == nil && instr == "ARG":
			name, def, _ := strings.Cut(rest, "=")
			cf.args[name] = def
		case cur == nil:
			t.Fatalf("Containerfile: %s before the first FROM", instr)
		default:
			cur.instrs = append(cur.instrs, [2]string{instr, rest})
		}
	}
	if logical.Len() > 0 {
		t.Fatal("Containerfile ends in a continuation")
	}
	return cf
}

// stage returns the stage named name.
func (cf *containerfile) stage(t *testing.T, name string) *stage {
	t.Helper()
	s := cf.stages[name]
	if s == nil {
		t.Fatalf("Containerfile has no stage %q", name)
	}
	return s
}

// all returns the arguments of each of s's instr instructions, in order.
func (s *stage) all(instr string) []string {
	var out []string
	for _, in := range s.instrs {
		if in[0] == instr {
			out = append(out, in[1])
		}
	}
	return out
}

// last returns the arguments of s's last instr (the one that counts for
// USER, ENTRYPOINT and CMD), "" when it has none.
func (s *stage) last(instr string) string {
	all := s.all(instr)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

// jsonList returns the JSON (exec) form of s's last instr: a shell form
// would need /bin/sh, which the image does not have.
func (s *stage) jsonList(t *testing.T, instr string) []string {
	t.Helper()
	raw := s.last(instr)
	if raw == "" {
		return nil
	}
	var list []string
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		t.Fatalf("Containerfile: %s %s is not the JSON form (the image has no shell): %v", instr, raw, err)
	}
	return list
}

// containerBuildOut is the build stage's output directory, which the
// targets COPY --from.
const containerBuildOut = "/out/"

// repoRoot is the module's root, the build context (COPY . .).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

// goBuildEnv is the environment the image's build stage and `make
// release` run with here: the machine's Go caches (for speed), plus Go
// settings of the machine's own that both must override to give the same
// bytes everywhere (a golang image sets none, a workstation may).
func goBuildEnv(t *testing.T) []string {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GOTOOLCHAIN=local",
		"GOAMD64=v2", "GOARM64=v8.1", "GOFLAGS=-tags=postern_client"}
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", v, err)
		}
		env = append(env, v+"="+strings.TrimSpace(string(out)))
	}
	return env
}

// containerVersion is the VERSION build argument the tests pass: the
// image and the release must stamp it at the same place.
const containerVersion = "v0.0.0-containertest"

// buildContainerStage runs the build stage's RUN lines as a builder would
// (the context as the working directory, ARGs as BuildKit sets them) with
// /out/ mapped to a temporary directory, which it returns.
func buildContainerStage(t *testing.T, cf *containerfile) string {
	t.Helper()
	build := cf.stage(t, "build")
	out := t.TempDir()
	runs := build.all("RUN")
	built := false
	for _, run := range runs {
		if strings.HasPrefix(run, "[") {
			t.Fatalf("Containerfile: build stage RUN in JSON form: %s", run)
		}
		// `go mod download` fetches what the COPY . . step then has: the
		// test's module cache has it.
		if strings.TrimSpace(run) == "go mod download" {
			continue
		}
		cmd := exec.Command("sh", "-c", strings.ReplaceAll(run, containerBuildOut, out+"/"))
		cmd.Dir = repoRoot(t)
		cmd.Env = append(goBuildEnv(t), "VERSION="+containerVersion, "TARGETOS=linux", "TARGETARCH="+runtime.GOARCH)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("Containerfile build stage: RUN %s: %v\n%s", run, err, b)
		}
		built = built || strings.Contains(run, "go build")
	}
	if !built {
		t.Fatal("Containerfile: the build stage runs no go build")
	}
	return out
}

// TestContainerfileBuildIsRelease: the image's binary is, byte for byte,
// the one `make release` builds for linux on this machine's architecture
// (same flags, same version stamp), and the builder image's Go is the
// toolchain go.mod names: the image cannot drift from the release.
func TestContainerfileBuildIsRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image's binary and a release")
	}
	cf := parseContainerfile(t, filepath.Join(repoRoot(t), "packaging", "Containerfile"))

	goVersion := ""
	mod, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok && goVersion == "" {
			goVersion = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "toolchain go"); ok {
			goVersion = strings.TrimSpace(v)
		}
	}
	if got := cf.args["GO_VERSION"]; got != goVersion {
		t.Errorf("Containerfile ARG GO_VERSION=%s, go.mod's toolchain is %s", got, goVersion)
	}

	out := buildContainerStage(t, cf)
	image, err := os.ReadFile(filepath.Join(out, "postern"))
	if err != nil {
		t.Fatal(err)
	}
	dist := t.TempDir()
	rel := exec.Command("./scripts/release.sh", dist)
	rel.Dir = repoRoot(t)
	rel.Env = append(goBuildEnv(t), "GO=go", "VERSION="+containerVersion, "PLATFORMS=linux/"+runtime.GOARCH)
	if b, err := rel.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release.sh: %v\n%s", err, b)
	}
	release, err := os.ReadFile(filepath.Join(dist, "postern-linux-"+runtime.GOARCH))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(image, release) {
		t.Errorf("the Containerfile's binary (%d bytes) differs from make release's postern-linux-%s (%d bytes): their go build flags or environment differ",
			len(image), runtime.GOARCH, len(release))
	}
}
