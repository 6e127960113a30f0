// Package bufpool lends the large buffers that carry tunnel bytes.
//
// A tunnel holds a buffer only while bytes are in flight: the copy loops
// wait for data with no buffer (a frame header, or a readiness wait on the
// socket) and borrow one when data is there, so an idle tunnel costs no
// buffer at all. That keeps memory per idle tunnel small at 10,000
// tunnels while a busy tunnel still moves 64 KiB (in bulk 256 KiB) per
// system call.
//
// A bulk transfer moves more at once: a copy loop whose last read brought
// Chunk bytes or more (more is likely waiting) borrows a BigSize buffer
// next (GetBig, or GetFor a frame's length), so each frame, system call,
// TLS batch and goroutine hand-off of the path carries up to BigChunk
// bytes instead of Chunk (measured in
// internal/bench/tunnelbench/RESULTS.md). Interactive and idle tunnels
// never borrow a big buffer: the loops still wait for data without one.
package bufpool

import (
	"sync"
	"sync/atomic"
)

// Chunk is the most a copy loop moves at once with a Size buffer: with a
// tunnelproto header in front, at most 65,535 bytes, and above the AWS
// CLI's 65,000-byte WebSocket frames.
const Chunk = 65535 - 4

// Size is the capacity of every ordinary buffer: Headroom plus Chunk.
const Size = Chunk + Headroom

// BigChunk is the most a copy loop moves at once with a big buffer (a
// bulk transfer): well below tunnelproto.MaxPayload (1 MiB) and the agent
// link's stream window (1 MiB), so one big frame never waits for a window
// update half-way.
const BigChunk = 256 << 10

// BigSize is the capacity of a big buffer: Headroom plus BigChunk.
const BigSize = BigChunk + Headroom

// Headroom is the space kept in front of a payload so that a frame header
// (WebSocket: at most 14 bytes; tunnelproto: 4) can be written in place
// and header and payload leave in one write.
const Headroom = 16

var pool = sync.Pool{New: func() any {
	b := make([]byte, Size)
	return &b
}}

var bigPool = sync.Pool{New: func() any {
	b := make([]byte, BigSize)
	return &b
}}

// gets and puts count the buffers given out and returned (Lent, Lends).
var gets, puts atomic.Int64

// Lent returns how many buffers are lent out (given by Get, GetBig or
// GetFor and not yet returned with Put): tests check with it that idle
// tunnels hold none.
func Lent() int64 { return gets.Load() - puts.Load() }

// Lends returns how many buffers were ever lent: it grows while tunnel
// bytes move (every copy loop borrows one per read), so a process can
// tell that its tunnels are idle (package idlemem).
func Lends() int64 { return gets.Load() }

// Get returns a buffer of length Size. Return it with Put.
func Get() *[]byte {
	gets.Add(1)
	return pool.Get().(*[]byte)
}

// GetBig returns a buffer of length BigSize. Return it with Put.
func GetBig() *[]byte {
	gets.Add(1)
	return bigPool.Get().(*[]byte)
}

// GetFor returns a buffer for a payload of n bytes: a big one when n is
// more than Chunk, else an ordinary one. Return it with Put.
func GetFor(n int) *[]byte {
	if n > Chunk {
		return GetBig()
	}
	return Get()
}

// ChunkOf is the most payload b (from Get, GetBig or GetFor) carries
// after Headroom.
func ChunkOf(b *[]byte) int { return cap(*b) - Headroom }

// Put returns a buffer obtained from Get, GetBig or GetFor. The caller
// must not use it afterwards. Put(nil) does nothing.
func Put(b *[]byte) {
	if b == nil {
		return
	}
	switch cap(*b) {
	case Size:
		puts.Add(1)
		*b = (*b)[:Size]
		pool.Put(b)
	case BigSize:
		puts.Add(1)
		*b = (*b)[:BigSize]
		bigPool.Put(b)
	}
}
