package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
)

// TestWriteNow: on a real loopback TCP pair with small buffers whose peer
// does not read, WriteNow writes what the socket takes and returns short,
// without an error and without waiting, once it is full; what it wrote
// arrives whole and in order; on a connection closed here it fails with
// net.ErrClosed, and once the peer reset, with the socket's error.
func TestWriteNow(t *testing.T) {
	local, peer := tcpPair(t, true)
	rc, err := local.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	var sent bytes.Buffer
	full := false
	for i := 0; i < 4096 && !full; i++ { // bounded: small buffers fill within a few chunks
		n, err := WriteNow(rc, chunk)
		if err != nil {
			t.Fatalf("WriteNow: %v", err)
		}
		sent.Write(chunk[:n])
		full = n < len(chunk)
	}
	if !full {
		t.Fatalf("WriteNow never returned short after %d bytes: it waited for room or the socket never filled", sent.Len())
	}
	got := make([]byte, sent.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatal("the bytes WriteNow wrote did not arrive whole and in order")
	}

	if err := peer.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	var werr error
	for i := 0; i < 4096 && werr == nil; i++ { // bounded: the reset arrives within a write or two
		_, werr = WriteNow(rc, chunk[:1])
	}
	if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) {
		t.Fatalf("WriteNow after the peer's reset: %v, want ECONNRESET or EPIPE", werr)
	}

	local.Close()
	if _, err := WriteNow(rc, chunk[:1]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteNow on a connection closed here: %v, want net.ErrClosed", err)
	}
}
