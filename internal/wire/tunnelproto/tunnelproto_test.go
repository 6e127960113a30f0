package tunnelproto

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		h    [HeaderLen]byte
		typ  FrameType
		n    int
		bad  string
	}{
		{"data", [4]byte{3, 0, 1, 0}, FrameData, 256, ""},
		{"empty data", [4]byte{3, 0, 0, 0}, FrameData, 0, ""},
		{"max data", [4]byte{3, 0x10, 0, 0}, FrameData, MaxPayload, ""},
		{"too big", [4]byte{3, 0x10, 0, 1}, 0, 0, "exceeds"},
		{"eof", [4]byte{4, 0, 0, 0}, FrameEOF, 0, ""},
		{"eof with payload", [4]byte{4, 0, 0, 1}, 0, 0, "EOF frame"},
		{"json too big", [4]byte{1, 0, 0x40, 1}, 0, 0, "exceeds"},
		{"type zero", [4]byte{0, 0, 0, 0}, 0, 0, "unknown type"},
		{"type 6", [4]byte{6, 0, 0, 0}, 0, 0, "unknown type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, n, err := ParseHeader(tc.h)
			if tc.bad != "" {
				if err == nil || !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("ParseHeader(%v) = %v, want an ErrFrame with %q", tc.h, err, tc.bad)
				}
				return
			}
			if err != nil || typ != tc.typ || n != tc.n {
				t.Fatalf("ParseHeader(%v) = %v %d %v", tc.h, typ, n, err)
			}
			var b [HeaderLen]byte
			PutHeader(b[:], typ, n)
			if b != tc.h {
				t.Fatalf("PutHeader round trip %v, want %v", b, tc.h)
			}
		})
	}
}

type rwc struct {
	io.Reader
	io.Writer
}

func (rwc) Close() error { return nil }

// A tunnel stream as the agent writes it, read back by Conn.Recv.
func TestConnRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	w := NewConn(rwc{Writer: &wire})
	frame := func(p string) []byte { return append(make([]byte, HeaderLen), p...) }
	if err := w.SendData(frame("hello ")); err != nil {
		t.Fatal(err)
	}
	if err := w.SendData(frame("")); err != nil { // empty frames are skipped
		t.Fatal(err)
	}
	if err := w.SendData(frame("world")); err != nil {
		t.Fatal(err)
	}
	if err := w.SendEOF(); err != nil {
		t.Fatal(err)
	}
	if err := w.SendData(frame("late")); err == nil {
		t.Fatal("data after EOF was accepted")
	}
	if err := w.SendEnd(CodeTargetReset, "reset"); err != nil {
		t.Fatal(err)
	}
	r := NewConn(rwc{Reader: &wire})
	var got []string
	small := func(n int) []byte { return make([]byte, min(n, 3)) } // forces partial reads
	for {
		b, err := r.Recv(small)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Recv: %v", err)
			}
			break
		}
		got = append(got, string(b))
	}
	if strings.Join(got, "") != "hello world" {
		t.Fatalf("got %q", got)
	}
	_, err := r.Recv(small)
	var er *EndReason
	if !errors.As(err, &er) || er.Code != CodeTargetReset || er.Message != "reset" {
		t.Fatalf("after EOF: %v, want the End reason", err)
	}
	if _, err := r.Recv(small); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a stream that stops: %v", err)
	}
}

// RecvFunc over a stream that cannot lend its bytes reads them into
// get's buffer, and returns use's error as it is.
func TestRecvFuncWithoutLender(t *testing.T) {
	var wire bytes.Buffer
	w := NewConn(rwc{Writer: &wire})
	if err := w.SendData(append(make([]byte, HeaderLen), "hello"...)); err != nil {
		t.Fatal(err)
	}
	if err := w.SendData(append(make([]byte, HeaderLen), "again"...)); err != nil {
		t.Fatal(err)
	}
	if err := w.SendEOF(); err != nil {
		t.Fatal(err)
	}
	r := NewConn(rwc{Reader: &wire})
	get := func(n int) []byte { return make([]byte, n) }
	var got string
	if err := r.RecvFunc(get, func(p []byte) error { got = string(p); return nil }); err != nil || got != "hello" {
		t.Fatalf("RecvFunc: %q, %v", got, err)
	}
	mine := errors.New("the target is gone")
	if err := r.RecvFunc(get, func([]byte) error { return mine }); err != mine {
		t.Fatalf("RecvFunc returned %v, want use's error", err)
	}
	if err := r.RecvFunc(get, func([]byte) error { return nil }); !errors.Is(err, io.EOF) {
		t.Fatalf("after the EOF frame: %v", err)
	}
}

func TestJSONFrames(t *testing.T) {
	var wire bytes.Buffer
	req := DialRequest{TunnelID: "tnl-1", Address: "10.0.0.1", Port: 22, TimeoutMillis: 1000}
	if err := WriteJSON(&wire, FrameDial, req); err != nil {
		t.Fatal(err)
	}
	var got DialRequest
	if err := ReadJSON(bytes.NewReader(wire.Bytes()), FrameDial, &got); err != nil || got != req {
		t.Fatalf("%+v %v", got, err)
	}
	if err := ReadJSON(bytes.NewReader(wire.Bytes()), FrameDialResult, &got); err == nil {
		t.Fatal("a Dial frame was read as a DialResult")
	}
	for _, bad := range []DialRequest{{}, {TunnelID: "t", Address: "a", Port: 0}, {TunnelID: "t", Port: 22}, {TunnelID: "t", Address: "a", Port: 22, TimeoutMillis: -1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// TestDialRequestValidate: the agent multiplies TimeoutMillis into a
// time.Duration, so the value from the server is bounded before that
// (0 means "not given": the agent's own dial timeout applies).
func TestDialRequestValidate(t *testing.T) {
	ok := DialRequest{TunnelID: "tnl-1", Address: "10.0.0.1", Port: 22}
	with := func(ms int64) DialRequest { d := ok; d.TimeoutMillis = ms; return d }
	client := func(c DialRequest) DialRequest {
		d := ok
		d.Client, d.PreserveClientIP, d.ProxyProtocol = c.Client, c.PreserveClientIP, c.ProxyProtocol
		return d
	}
	tests := []struct {
		name string
		req  DialRequest
		ok   bool
	}{
		{"no timeout (the agent's own)", ok, true},
		{"1 ms", with(1), true},
		{"what the server sends", with(10_000), true},
		{"the maximum", with(MaxDialTimeoutMillis), true},
		{"over the maximum", with(MaxDialTimeoutMillis + 1), false},
		{"a year", with(365 * 24 * 3600 * 1000), false},
		{"overflows a Duration in ms", with(9223372036854775807 / 1000), false},
		{"the largest int64", with(9223372036854775807), false},
		{"negative", with(-1), false},
		{"the smallest int64", with(-9223372036854775808), false},
		{"preserve with the client", client(DialRequest{PreserveClientIP: true, Client: "192.0.2.7:50312"}), true},
		{"preserve, IPv6 client", client(DialRequest{PreserveClientIP: true, Client: "[2001:db8::7]:50312"}), true},
		{"preserve without the client", client(DialRequest{PreserveClientIP: true}), false},
		{"proxy v2", client(DialRequest{ProxyProtocol: ProxyV2, Client: "192.0.2.7:1"}), true},
		{"proxy v1", client(DialRequest{ProxyProtocol: "v1", Client: "192.0.2.7:1"}), false},
		{"proxy without the client", client(DialRequest{ProxyProtocol: ProxyV2}), false},
		{"client without a port", client(DialRequest{Client: "192.0.2.7"}), false},
		{"client port 0", client(DialRequest{Client: "192.0.2.7:0"}), false},
		{"client with a zone", client(DialRequest{Client: "[fe80::1%eth0]:22"}), false},
		{"client a name", client(DialRequest{Client: "example.com:22"}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tc.req, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrFrame) {
				t.Errorf("%v, want ErrFrame", err)
			}
		})
	}
}

// FuzzDialRequest decodes arbitrary dial frame payloads: whatever
// Validate accepts has a timeout that is a bounded, non-negative Duration.
func FuzzDialRequest(f *testing.F) {
	f.Add([]byte(`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"timeoutMillis":10000}`))
	f.Add([]byte(`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22}`))
	f.Add([]byte(`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"timeoutMillis":9223372036854775807}`))
	f.Add([]byte(`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"timeoutMillis":9223372036854776}`))
	f.Add([]byte(`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"timeoutMillis":-1}`))
	f.Add([]byte(`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"client":"192.0.2.7:50312","preserveClientIp":true,"proxyProtocol":"v2"}`))
	f.Add([]byte(`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"preserveClientIp":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d DialRequest
		if DecodeJSON(FrameDial, b, &d) != nil || d.Validate() != nil {
			return
		}
		if d.PreserveClientIP || d.ProxyProtocol != "" {
			if ap, err := d.ClientAddrPort(); err != nil || !ap.Addr().IsValid() || ap.Port() == 0 {
				t.Fatalf("accepted a request needing the client without one: %+v", d)
			}
		}
		if timeout := time.Duration(d.TimeoutMillis) * time.Millisecond; timeout < 0 || timeout > MaxDialTimeoutMillis*time.Millisecond {
			t.Fatalf("accepted timeout %d ms (%v)", d.TimeoutMillis, timeout)
		}
	})
}

func TestJoinToken(t *testing.T) {
	tok := JoinToken{Server: "postern.example:443", CAPin: strings.Repeat("ab", 32), EndpointID: "eice-0123456789abcdef0", Secret: strings.Repeat("s", 43)}
	got, err := ParseJoinToken(" " + tok.Encode() + "\n")
	if err != nil || got != tok {
		t.Fatalf("%+v %v", got, err)
	}
	bad := map[string]JoinToken{
		"no port":      {Server: "postern.example", CAPin: tok.CAPin, EndpointID: tok.EndpointID, Secret: tok.Secret},
		"short pin":    {Server: tok.Server, CAPin: "abcd", EndpointID: tok.EndpointID, Secret: tok.Secret},
		"not eice":     {Server: tok.Server, CAPin: tok.CAPin, EndpointID: "vpc-1", Secret: tok.Secret},
		"short secret": {Server: tok.Server, CAPin: tok.CAPin, EndpointID: tok.EndpointID, Secret: "x"},
	}
	for name, b := range bad {
		if _, err := ParseJoinToken(b.Encode()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, s := range []string{"", "PJT1.", "PJT1.!!!", "XYZ", JoinTokenPrefix + "eyJ4IjoxfQ"} {
		if _, err := ParseJoinToken(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzParseJoinToken(f *testing.F) {
	f.Add(JoinToken{Server: "h:1", CAPin: strings.Repeat("0", 64), EndpointID: "eice-1", Secret: strings.Repeat("s", 20)}.Encode())
	f.Add("PJT1.e30")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseJoinToken(s)
		if err != nil {
			return
		}
		again, err := ParseJoinToken(tok.Encode())
		if err != nil || again != tok {
			t.Fatalf("a parsed token does not round-trip: %+v %v", again, err)
		}
	})
}

// FuzzConnRecv feeds arbitrary bytes to a tunnel stream reader: it must
// never panic, never deliver more bytes than the input held, and end with
// an error.
func FuzzConnRecv(f *testing.F) {
	var seed bytes.Buffer
	c := NewConn(rwc{Writer: &seed})
	c.SendData(append(make([]byte, HeaderLen), "abc"...))
	c.SendEOF()
	f.Add(seed.Bytes())
	f.Add([]byte{5, 0, 0, 2, '{', '}'})
	f.Add([]byte{3, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewConn(rwc{Reader: bytes.NewReader(in)})
		total := 0
		get := func(n int) []byte { return make([]byte, min(n, 64)) }
		for i := 0; i < len(in)+2; i++ {
			var b []byte
			var err error
			if i%2 == 0 {
				b, err = r.Recv(get)
			} else { // RecvFunc reads the same frames
				err = r.RecvFunc(get, func(p []byte) error { b = p; return nil })
			}
			total += len(b)
			if total > len(in) {
				t.Fatalf("delivered %d bytes from %d", total, len(in))
			}
			if err != nil {
				return
			}
		}
		t.Fatalf("Recv did not end on %d bytes", len(in))
	})
}

func TestParseReplicas(t *testing.T) {
	good := []Replica{{ID: "r-1a2b", Addr: "10.0.0.5:443"}, {ID: "B", Addr: "[::1]:8443"}, {ID: "c", Addr: "postern-2.example.com:443"}}
	got, err := ParseReplicas(FormatReplicas(good))
	if err != nil || !reflect.DeepEqual(got, good) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if got, err := ParseReplicas(" "); err != nil || got != nil {
		t.Fatalf("empty: %v %v", got, err)
	}
	for name, s := range map[string]string{
		"no address":     "r-1",
		"no port":        "r-1=host",
		"port 0":         "r-1=host:0",
		"port too big":   "r-1=host:70000",
		"empty id":       "=host:443",
		"id with space":  "r 1=host:443",
		"empty host":     "r-1=:443",
		"twice":          "r-1=h:1,r-1=h:2",
		"empty entry":    "r-1=h:1,,r-2=h:2",
		"too many":       strings.Repeat("a=h:1,", 64) + "b=h:1",
		"host with path": "r-1=h/x:443",
	} {
		if _, err := ParseReplicas(s); err == nil {
			t.Errorf("%s: %q accepted", name, s)
		}
	}
}

func FuzzParseReplicas(f *testing.F) {
	f.Add("r-1=10.0.0.1:443,r-2=[::1]:8443")
	f.Add("a=h:1,,")
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseReplicas(s)
		if err != nil {
			return
		}
		again, err := ParseReplicas(FormatReplicas(rs))
		if err != nil || !reflect.DeepEqual(again, rs) {
			t.Fatalf("a parsed list does not round-trip: %v → %v %v", rs, again, err)
		}
	})
}

// TestDialRequestWire pins the dial request's JSON: the fields of the
// first version keep their names, the client fields are left out when
// unset (a request without them is byte for byte what older servers
// sent), and a request from an older server decodes with them unset.
func TestDialRequestWire(t *testing.T) {
	tests := []struct {
		name string
		req  DialRequest
		wire string
	}{
		{"plain (as before)", DialRequest{TunnelID: "tnl-1", Address: "10.0.0.1", Port: 22, TimeoutMillis: 10000},
			`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"timeoutMillis":10000}`},
		{"preserving", DialRequest{TunnelID: "tnl-1", Address: "10.0.0.1", Port: 22, TimeoutMillis: 10000, Client: "192.0.2.7:50312", PreserveClientIP: true},
			`{"tunnelId":"tnl-1","address":"10.0.0.1","port":22,"timeoutMillis":10000,"client":"192.0.2.7:50312","preserveClientIp":true}`},
		{"proxy v2", DialRequest{TunnelID: "tnl-1", Address: "10.0.0.1", Port: 5432, Client: "[2001:db8::7]:4000", ProxyProtocol: ProxyV2},
			`{"tunnelId":"tnl-1","address":"10.0.0.1","port":5432,"client":"[2001:db8::7]:4000","proxyProtocol":"v2"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var wire bytes.Buffer
			if err := WriteJSON(&wire, FrameDial, tc.req); err != nil {
				t.Fatal(err)
			}
			if got := string(wire.Bytes()[HeaderLen:]); got != tc.wire {
				t.Fatalf("wire %s\nwant %s", got, tc.wire)
			}
			var back DialRequest
			if err := ReadJSON(bytes.NewReader(wire.Bytes()), FrameDial, &back); err != nil || back != tc.req || back.Validate() != nil {
				t.Fatalf("read back %+v %v", back, err)
			}
			// What an agent of the first version decodes: the same target.
			var old struct {
				TunnelID      string `json:"tunnelId"`
				Address       string `json:"address"`
				Port          int    `json:"port"`
				TimeoutMillis int64  `json:"timeoutMillis,omitempty"`
			}
			if err := DecodeJSON(FrameDial, []byte(tc.wire), &old); err != nil || old.Address != tc.req.Address || old.Port != tc.req.Port {
				t.Fatalf("an older agent reads %+v %v", old, err)
			}
		})
	}
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{FormatFeatures([]string{FeaturePreserveClientIP, FeatureProxyV2}), []string{FeaturePreserveClientIP, FeatureProxyV2}},
		{" proxy-v2 ,, future-thing ", []string{FeatureProxyV2, "future-thing"}},
		{strings.Repeat("x,", 40), slices.Repeat([]string{"x"}, 32)},
		{strings.Repeat("y", 65), nil},
	}
	for _, tc := range tests {
		if got := ParseFeatures(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFeatures(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
