//go:build unix

// Package pgtest starts a throwaway PostgreSQL server for tests.
//
// A test binary that uses it calls Main from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// or, when TestMain has more to do (build something first, clean up
// after), Run, which returns the exit code instead of exiting:
//
//	code := pgtest.Run(m)
//	cleanUp()
//	os.Exit(code)
//
// and each test that needs a database calls Start, which returns the DSN
// of a new, empty database on the binary's one server (started on first
// use, with initdb into a temporary directory) and drops the database when
// the test ends. Main stops the server and removes its directory after
// the tests ran, whether they passed or not; if the test binary dies
// first (a panic, a timeout), the server gets SIGQUIT from the kernel
// (PR_SET_PDEATHSIG) and shuts down at once.
//
// The server listens on a Unix socket in its directory only
// (listen_addresses is empty), so it takes no TCP port and cannot clash with
// another server or another test binary. Durability is off (fsync=off):
// the data is thrown away.
//
// PostgreSQL refuses to run as root. When the tests run as root (as in
// CI), initdb and postgres run as the "postgres" user that Debian's
// postgresql package creates, and the directory is given to that user.
//
// The server binaries are looked up in $PGTEST_BINDIR, then
// /usr/lib/postgresql/<newest version>/bin (Debian, Ubuntu), then $PATH.
// When they are missing the test is skipped, or, when $CI is set (and
// not "false"), fails with a hint to run make test-deps.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/postern/postern/internal/testutil/ci"
)

// superuser is the bootstrap superuser initdb creates (-U), whatever the
// OS user; local connections are trusted (-A trust).
const superuser = "postgres"

// port names the socket file (.s.PGSQL.5432); no TCP port is opened.
const port = 5432

var (
	mu       sync.Mutex
	mainRan  bool    // Main or Run is running the tests
	srv      *server // the running server, nil before the first Start or after Stop
	startErr error   // why the server could not start; sticks for the binary's life
)

// errNotInstalled means the PostgreSQL server binaries were not found.
var errNotInstalled = errors.New("the PostgreSQL server (initdb, postgres) is not installed")

// server is one running postgres.
type server struct {
	dir     string // temporary root: data/, the socket, postgres.log
	dataDir string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has exited
	admin   *sql.DB       // the "postgres" database, for CREATE and DROP DATABASE
}

// Main runs the tests and then stops the server, if one was started, and
// removes its directory. Call it from TestMain. It does not return.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main returning the exit code instead of exiting: it runs the
// tests, stops the server, if one was started, and removes its directory.
// A failure to stop the server turns a success into exit code 1. Call it
// from a TestMain that has more to do and then passes the code to os.Exit.
func Run(m *testing.M) int {
	mu.Lock()
	mainRan = true
	mu.Unlock()
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Start returns the DSN (a postgres:// URL) of a new, empty database on
// the test binary's server, starting the server on first use. The
// database is dropped when t ends, with any connections still open to it.
func Start(t testing.TB) string {
	t.Helper()
	s, err := running()
	if errors.Is(err, errNotInstalled) {
		if inCI() {
			t.Fatalf("pgtest: %v; run make test-deps (scripts/test-deps.sh installs the postgresql package)", err)
		}
		t.Skipf("pgtest: %v; run make test-deps to run the PostgreSQL tests", err)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "pgtest_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.dsn(name)
}

// running returns the server, starting it if this is the first call.
func running() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if !mainRan {
		return nil, errors.New("call pgtest.Main(m) or pgtest.Run(m) from the package's TestMain, so that the server is stopped after the tests")
	}
	if srv == nil && startErr == nil {
		srv, startErr = start()
	}
	return srv, startErr
}

// stop stops the server and removes its directory.
func stop() error {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.stop()
	srv = nil
	startErr = errors.New("the server was stopped")
	return err
}

// inCI reports whether $CI says the tests run in CI.
func inCI() bool {
	return ci.Strict()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// dsn is the URL of database name, over the socket, as the superuser.
// Every part is explicit so that PG* environment variables do not change
// where it leads.
func (s *server) dsn(name string) string {
	q := url.Values{}
	q.Set("host", s.dir)
	q.Set("port", strconv.Itoa(port))
	q.Set("sslmode", "disable")
	u := url.URL{Scheme: "postgres", User: url.User(superuser), Path: "/" + name, RawQuery: q.Encode()}
	return u.String()
}

// binaries finds initdb and postgres.
func binaries() (initdb, postgres string, err error) {
	var dirs []string
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		dirs = append(dirs, d)
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(debian, func(a, b string) int { // newest version first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	dirs = append(dirs, debian...)
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dirs = append(dirs, filepath.Dir(p)) // postgres from the same installation as initdb
	}
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if executable(i) && executable(p) {
			return i, p, nil
		}
	}
	return "", "", fmt.Errorf("%w (looked in $PGTEST_BINDIR, /usr/lib/postgresql/*/bin and $PATH)", errNotInstalled)
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// runAs is the user initdb and postgres run as: nil for the current user,
// the "postgres" user when the tests run as root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("the tests run as root, which PostgreSQL refuses, and there is no \"postgres\" user to run it as"+
			" (the Debian postgresql package creates it: run make test-deps), or run the tests as another user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// tempBase is where the server's directory goes: os.TempDir, unless the
// socket path would be too long (sun_path holds 107 bytes) or, as root,
// the postgres user could not reach it; then /tmp.
func tempBase(cred *syscall.Credential) string {
	base := os.TempDir()
	if len(base) > 60 {
		return "/tmp"
	}
	if cred != nil {
		for d := base; ; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err != nil || fi.Mode().Perm()&0o001 == 0 { // others may not traverse
				return "/tmp"
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return base
}

// command prepares one of the server's programs, run as cred, with the PG*
// environment variables removed (PGDATA, PGPORT, ... must not steer it).
func command(cred *syscall.Credential, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "LC_") && !strings.HasPrefix(kv, "LANG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LANG=C", "LC_ALL=C")
	return cmd
}

// start runs initdb into a new temporary directory, starts postgres on a
// socket in it and waits until it accepts connections.
func start() (_ *server, err error) {
	initdb, postgres, err := binaries()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempBase(cred), "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "postgres.log")}
	defer func() {
		if err != nil {
			if s.cmd != nil {
				s.kill()
			}
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("give %s to user postgres: %w", dir, err)
		}
	}

	var out bytes.Buffer
	cmd := command(cred, dir, initdb, "-D", s.dataDir, "-U", superuser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", initdb, err, out.String())
	}

	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = command(cred, dir, postgres,
		"-D", s.dataDir,
		"-k", dir, // unix_socket_directories
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
	)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// If the test binary dies without running Main's stop, the kernel
	// sends postgres SIGQUIT (immediate shutdown), on Linux. The signal
	// goes when the thread that started the child exits, so start it from
	// a thread that stays until postgres exits.
	setParentDeathSignal(s.cmd.SysProcAttr, syscall.SIGQUIT)
	s.exited = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, after postgres
		if err := s.cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		s.cmd.Wait() //nolint:errcheck // how it exited is in postgres.log
		close(s.exited)
	}()
	if err := <-started; err != nil {
		s.cmd = nil
		return nil, fmt.Errorf("start %s: %w", postgres, err)
	}

	if err := s.waitReady(30 * time.Second); err != nil {
		return nil, err
	}
	return s, nil
}

// waitReady polls a connection to the server until it answers, the
// server exits or the deadline passes.
func (s *server) waitReady(limit time.Duration) error {
	db, err := sql.Open("pgx", s.dsn("postgres"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	poll := 5 * time.Millisecond
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err := db.PingContext(pctx)
		pcancel()
		if err == nil {
			db.SetMaxOpenConns(4)
			s.admin = db
			return nil
		}
		select {
		case <-s.exited:
			db.Close()
			return fmt.Errorf("postgres exited during start-up:\n%s", s.logTail())
		case <-ctx.Done():
			db.Close()
			return fmt.Errorf("postgres did not accept connections within %v: %v\n%s", limit, err, s.logTail())
		case <-time.After(poll): // bounded polling of the external process
		}
		poll = min(2*poll, 100*time.Millisecond)
	}
}

// logTail is the end of postgres.log, for error messages.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop shuts the server down (fast shutdown: SIGINT), waits for it to
// exit, escalating to SIGQUIT and SIGKILL if it does not, and removes its
// directory.
func (s *server) stop() error {
	if s.admin != nil {
		s.admin.Close()
	}
	var errs []error
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 20 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}} {
		if err := s.cmd.Process.Signal(step.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			errs = append(errs, fmt.Errorf("signal postgres: %w", err))
		}
		select {
		case <-s.exited:
			if err := os.RemoveAll(s.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		case <-time.After(step.wait):
			errs = append(errs, fmt.Errorf("postgres did not exit within %v of %v", step.wait, step.sig))
		}
	}
	return errors.Join(append(errs, fmt.Errorf("postgres (pid %d) is still running; its directory %s is left", s.cmd.Process.Pid, s.dir))...)
}

// kill ends a server that failed to start.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // best effort
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
}
