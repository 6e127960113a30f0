package cli

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/postern/postern/internal/util/bufpool"
)

// TestReleaseWhenIdle: a client that stays idle releases its memory once,
// idleRelease after its last connection closed; one with a connection
// open again by then does not; several closes in a row release once.
func TestReleaseWhenIdle(t *testing.T) {
	cases := []struct {
		name   string
		active int64 // connections open when the timer fires
		closes int   // Idle calls in a row
		want   int32 // releases
	}{
		{"idle", 0, 1, 1},
		{"busy again", 1, 1, 0},
		{"a burst of closes", 0, 5, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var released *atomic.Int32
			var done chan struct{}
			// A burst is calls closer together than idleRelease (50 ms):
			// a loaded machine may pause longer between two of them, and
			// then two firings are right. Such an attempt proves nothing
			// and is made again (bounded); the verdict is not timed.
			for attempt := 1; ; attempt++ {
				// This attempt's own (a discarded attempt's timer may
				// still fire into its channel and counter).
				rel, dn := new(atomic.Int32), make(chan struct{}, 8)
				released, done = rel, dn
				idle, _ := releaseWhenIdle(func() int64 {
					defer func() { dn <- struct{}{} }()
					return c.active
				}, func() { rel.Add(1) })
				start := time.Now()
				for range c.closes {
					idle()
				}
				if c.closes == 1 || time.Since(start) < idleRelease {
					break
				}
				if attempt == 20 {
					t.Fatalf("%d Idle calls in a row never took less than %v in %d attempts", c.closes, idleRelease, attempt)
				}
			}
			select { // the timer fired and asked how many are open
			case <-done:
			case <-time.After(time.Minute): // a guard against a hang, not a measurement
				t.Fatal("the release timer did not fire")
			}
			// The check and the release run on the timer's goroutine, in
			// that order: wait (bounded) for the release when one is due.
			deadline := time.Now().Add(time.Minute)
			for released.Load() < c.want && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := released.Load(); got != c.want {
				t.Errorf("released %d times, want %d", got, c.want)
			}
			select { // a second firing would come idleRelease after the first
			case <-done:
				t.Error("the timer fired more than once for one burst")
			case <-time.After(3 * idleRelease):
			}
		})
	}
}

// releaseMemory frees what the sync.Pools hold (the tunnels' buffers),
// which one collection only moves to the pools' victim caches.
func TestReleaseMemoryFreesPooledBuffers(t *testing.T) {
	runtime.GC()
	runtime.GC() // the pools start empty
	const n = 64
	bufs := make([]*[]byte, n)
	for i := range bufs {
		bufs[i] = bufpool.Get()
	}
	for _, b := range bufs {
		bufpool.Put(b)
	}
	clear(bufs)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	releaseMemory()
	runtime.ReadMemStats(&after)
	freed := int64(before.HeapInuse) - int64(after.HeapInuse)
	if want := int64(n * bufpool.Size * 3 / 4); freed < want {
		t.Errorf("releaseMemory freed %d KiB of the heap, want at least %d KiB (the %d pooled buffers)", freed>>10, want>>10, n)
	}
}

// The look-up's API connections are closed by closeAll, the kept-alive
// one included, and the API client still works after (a new connection).
func TestConnSetClosesLookupConnections(t *testing.T) {
	var mu sync.Mutex
	closed := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			mu.Lock()
			closed++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	var set connSet
	cfg := withConnSet(aws.Config{HTTPClient: awshttp.NewBuildableClient()}, &set)
	get := func() {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cfg.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get()
	get() // the same kept-alive connection
	set.mu.Lock()
	dialed := len(set.conns)
	set.mu.Unlock()
	if dialed != 1 {
		t.Fatalf("%d connections noted for two calls on one kept-alive connection", dialed)
	}
	set.closeAll()
	ok := false
	for range 1000 { // the server notices the close (bounded)
		mu.Lock()
		ok = closed == 1
		mu.Unlock()
		if ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("the server saw %d connections closed, want 1", closed)
	}
	get()
	if _, ok := withConnSet(aws.Config{HTTPClient: http.DefaultClient}, &set).HTTPClient.(*http.Client); !ok {
		t.Error("an HTTP client of another kind was replaced")
	}
}
