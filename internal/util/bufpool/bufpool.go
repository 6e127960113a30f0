// Package bufpool lends the large buffers that carry tunnel bytes.
//
// A tunnel holds a buffer only while bytes are in flight: the copy loops
// wait for data with no buffer (a frame header, or a readiness wait on the
// socket) and borrow one when data is there, so an idle tunnel costs no
// buffer at all. That keeps memory per idle tunnel small at 10,000
// tunnels while a busy tunnel still moves 64 KiB per system call.
package bufpool

import "sync"

// Chunk is the most a copy loop moves at once: with a tunnelproto header
// in front, one frame of the agent link's multiplexer (at most 65,535
// bytes), and above the AWS CLI's 65,000-byte WebSocket frames.
const Chunk = 65535 - 4

// Size is the capacity of every buffer: Headroom plus Chunk.
const Size = Chunk + Headroom

// Headroom is the space kept in front of a payload so that a frame header
// (WebSocket: at most 14 bytes; tunnelproto: 4) can be written in place
// and header and payload leave in one write.
const Headroom = 16

var pool = sync.Pool{New: func() any {
	b := make([]byte, Size)
	return &b
}}

// Get returns a buffer of length Size. Return it with Put.
func Get() *[]byte { return pool.Get().(*[]byte) }

// Put returns a buffer obtained from Get. The caller must not use it
// afterwards.
func Put(b *[]byte) {
	if b == nil || cap(*b) != Size {
		return
	}
	*b = (*b)[:Size]
	pool.Put(b)
}
