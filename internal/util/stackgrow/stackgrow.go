// Package stackgrow grows the calling goroutine's stack at once, while it
// is still shallow, to the size the goroutine is known to reach anyway.
//
// A goroutine starts with the runtime's 2 KiB stack. When a call needs
// more, the runtime allocates a stack twice the size, copies the old one
// and adjusts every frame on it (a table lookup per frame); a goroutine
// that does deep work (JSON decoding, a dial, a TLS write) grows two or
// three times, each time deep inside that work, with many frames to
// adjust. The runtime grows a stack as far as the overflowing function
// needs, so a call of a function with a large frame at the goroutine's
// start grows it once, copying only a few small frames. (The trick of
// CockroachDB's growstack package, here with a Go frame instead of
// assembly.)
//
// Only grow a goroutine that reaches the size anyway, or that ends soon:
// a goroutine that then waits for long (an idle tunnel's) keeps the
// larger stack until a collection finds it mostly unused. That collection
// halves the stack of a waiting goroutine that uses under a quarter of
// it (one more copy), so growing first saves copies only up to a
// goroutine's first wait across a collection.
package stackgrow

// To16K grows the calling goroutine's stack to 16 KiB, as To8K does,
// from a stack of at most ~5 KiB in use (deeper, its 10 KiB frame takes
// the stack to 32 KiB): call it where the goroutine is shallow.
//
//go:noinline
func To16K() byte {
	var buf [10 << 10]byte
	buf[index] = 1
	return buf[index]
}

// To64K grows the calling goroutine's stack to 64 KiB, as To8K does,
// from a stack of at most ~20 KiB in use: for a goroutine that goes
// through the AWS SDK's middleware chain (the CLI's open, whose look-up
// grew it 16 → 32 → 64 KiB deep inside that chain: three copies of many
// frames).
//
//go:noinline
func To64K() byte {
	var buf [40 << 10]byte
	buf[index] = 1
	return buf[index]
}

// To8K grows the calling goroutine's stack to 8 KiB (from the runtime's
// 2 KiB), in one copy when called first thing in the goroutine.
//
//go:noinline
func To8K() byte {
	var buf [5 << 10]byte
	buf[index] = 1 // a real array in the frame, not optimised away
	return buf[index]
}

// To4K grows the calling goroutine's stack to 4 KiB, as To8K does.
//
//go:noinline
func To4K() byte {
	var buf [5 << 9]byte
	buf[index] = 1
	return buf[index]
}

// index is always 0; the grow functions index their arrays with it so
// that the compiler keeps the arrays.
var index int
