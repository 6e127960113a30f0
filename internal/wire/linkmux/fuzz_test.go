package linkmux

import (
	"io"
	"net"
	"testing"
	"time"
)

// frame builds one frame of the protocol for the fuzz corpus.
func frame(typ byte, flags uint16, id, length uint32, body []byte) []byte {
	var h header
	h.encode(typ, flags, id, length)
	return append(h[:], body...)
}

// Whatever a peer sends, the session never panics (nor its streams,
// read by Read and Borrow, and by a direct reader, taken from Accept or
// handed to Config.Handle)
// and ends once the connection does.
func FuzzSession(f *testing.F) {
	open := frame(typeWindowUpdate, flagSYN, 1, 0, nil)
	f.Add(append(append(open, frame(typeData, 0, 1, 5, []byte("hello"))...), frame(typeWindowUpdate, flagFIN, 1, 0, nil)...))
	f.Add(append(open, frame(typeData, flagRST, 1, 3, []byte("abc"))...))
	f.Add(append(open, frame(typeData, flagFIN, 1, 5, []byte("hello"))...)) // the end after the bytes
	f.Add(frame(typePing, flagSYN, 0, 7, nil))
	f.Add(frame(typeGoAway, 0, 0, goAwayNormal, nil))
	f.Add(append(open, frame(typeData, 0, 1, 300<<10, make([]byte, 300<<10))...))
	f.Add(frame(typeData, 0, 9, 4, []byte("lost")))
	f.Add([]byte{0, 1, 2})
	// A SYN on the first data frame, the window behind it (as this
	// package opens streams), with an odd and an even length.
	synData := append(frame(typeData, flagSYN, 1, 5, []byte("hello")), frame(typeWindowUpdate, 0, 1, 768<<10, nil)...)
	f.Add(synData)
	f.Add(append(synData, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		read := func(st net.Conn) {
			defer st.Close()
			ls := st.(*Stream)
			if len(in)%3 != 0 {
				// A direct reader takes part of what arrives
				// (SetDirect), the rest is read.
				ls.SetDirect(func(p []byte) int { return len(p) * (len(in) % 3) / 2 })
			}
			for i := 0; ; i++ {
				if i%2 == 0 {
					p, err := ls.Borrow(1 << 20)
					if err != nil {
						return
					}
					if err := ls.Consume(len(p)); err != nil {
						return
					}
				} else if _, err := st.Read(make([]byte, 100)); err != nil {
					return
				}
			}
		}
		cfg := Config{WriteTimeout: time.Second}
		if len(in)%2 == 1 {
			cfg.Handle = read
		}
		s, _ := Acceptor(a, cfg)
		defer s.Close()
		go func() { _, _ = io.Copy(io.Discard, b) }() // the session's answers
		go func() {
			for {
				st, err := s.Accept()
				if err != nil {
					return
				}
				go read(st)
			}
		}()
		_, _ = b.Write(in)
		b.Close()
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("the session outlived its connection (%d bytes in)", len(in))
		}
	})
}
