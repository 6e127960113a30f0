package wsframe

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/gobwas/ws"
)

// BenchmarkMask measures the masking pass a client makes over every
// payload it sends (and a server over every payload it reads), in place
// as WriteData and Reader.Read do, beside the two per-byte costs it is
// to be judged against: a copy of the same bytes (memory bandwidth) and
// the AES-128-GCM seal crypto/tls makes of them. Its figures are in
// internal/bench/tunnelbench/RESULTS.md (issue 17).
func BenchmarkMask(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10} {
		buf := make([]byte, size)
		dst := make([]byte, size)
		mask := ws.NewMask()
		b.Run(fmt.Sprintf("mask/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				ws.Cipher(buf, mask, 0)
			}
		})
		b.Run(fmt.Sprintf("copy/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				copy(dst, buf)
			}
		})
		b.Run(fmt.Sprintf("aes-gcm-seal/%dKiB", size>>10), func(b *testing.B) {
			blk, err := aes.NewCipher(make([]byte, 16))
			if err != nil {
				b.Fatal(err)
			}
			aead, err := cipher.NewGCM(blk)
			if err != nil {
				b.Fatal(err)
			}
			nonce := make([]byte, aead.NonceSize())
			out := make([]byte, 0, 16<<10+aead.Overhead())
			b.SetBytes(int64(size))
			for b.Loop() {
				for off := 0; off < size; off += 16 << 10 { // TLS records
					out = aead.Seal(out[:0], nonce, buf[off:off+min(16<<10, size-off)], nil)
				}
			}
		})
	}
}
