//go:build !linux

package sockio

const raw = false

func (s Socket) read(p []byte) (int, error)  { return s.c.Read(p) }
func (s Socket) write(p []byte) (int, error) { return s.c.Write(p) }

func (s Socket) wait() error { return nil }

func (s Socket) readBorrowed(borrow func() []byte, _ func()) (int, error) {
	return s.c.Read(borrow())
}
