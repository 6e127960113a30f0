package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/postern/postern/internal/util/bufpool"
)

// RunStdio carries one tunnel between stdin/stdout and the server, as
// ssh's ProxyCommand needs. When stdin ends the server is told (a close
// frame) and the target's last bytes still reach stdout; when the server
// closes, it returns (nil for a normal close). It never spins: stdin is
// read with blocking reads, and nothing is sent after its end.
func RunStdio(ctx context.Context, d *Dialer, t Target, stdin io.Reader, stdout io.Writer) error {
	tun, err := d.Dial(ctx, t)
	if err != nil {
		return err
	}
	defer tun.Close()
	stop := context.AfterFunc(ctx, func() { tun.Close() })
	defer stop()
	go copyIn(tun, stdin, nil)
	err = copyOut(stdout, tun)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// copyIn copies input into the tunnel until the input ends (then it tells
// the server with a close frame) or the tunnel fails (then it calls
// onFail, when given).
func copyIn(tun *Tunnel, in io.Reader, onFail func()) {
	bp := bufpool.Get()
	defer bufpool.Put(bp)
	buf := (*bp)[:bufpool.Chunk]
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := tun.Write(buf[:n]); werr != nil {
				if onFail != nil {
					onFail()
				}
				return
			}
		}
		if err != nil {
			_ = tun.CloseWrite()
			return
		}
	}
}

// copyOut copies tunnel bytes to w until the tunnel ends; a normal close is
// nil.
func copyOut(w io.Writer, tun *Tunnel) error {
	bp := bufpool.Get()
	defer bufpool.Put(bp)
	buf := (*bp)[:bufpool.Chunk]
	for {
		n, err := tun.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Listener is the --local-port mode: one tunnel per accepted connection,
// at most Max at once.
type Listener struct {
	Dialer *Dialer
	Target Target
	Max    int
	Out    io.Writer // progress messages, as the AWS CLI prints them

	active atomic.Int64
	seq    atomic.Int64
	wg     sync.WaitGroup
}

// Serve accepts connections on ln until ctx ends.
func (l *Listener) Serve(ctx context.Context, ln net.Listener) error {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Fprintf(l.Out, "Listening for connections on port %s.\n", port)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer l.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if l.Max > 0 && l.active.Load() >= int64(l.Max) {
			fmt.Fprintf(l.Out, "Max websocket connections %d have been reached, closing incoming connection.\n", l.Max)
			c.Close()
			continue
		}
		n := l.seq.Add(1)
		l.active.Add(1)
		fmt.Fprintf(l.Out, "[%d] Accepted new tcp connection, opening websocket tunnel.\n", n)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.active.Add(-1)
			if err := l.serveConn(ctx, c); err != nil {
				fmt.Fprintf(l.Out, "[%d] %s\n", n, ErrorLine(err))
			}
			fmt.Fprintf(l.Out, "[%d] Closing tcp connection.\n", n)
		}()
	}
}

func (l *Listener) serveConn(ctx context.Context, c net.Conn) error {
	defer c.Close()
	tun, err := l.Dialer.Dial(ctx, l.Target)
	if err != nil {
		return err
	}
	defer tun.Close()
	stop := context.AfterFunc(ctx, func() { tun.Close(); c.Close() })
	defer stop()
	go copyIn(tun, c, func() { c.Close() })
	err = copyOut(c, tun)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	return err
}

// ErrorLine words an error for one line of stderr.
func ErrorLine(err error) string {
	var re *RefusedError
	var ce *ClosedError
	switch {
	case errors.As(err, &re):
		if re.ErrorCode != "" {
			return "An error occurred (" + re.ErrorCode + ") when calling the OpenTunnel operation: " + re.Message
		}
		return "The tunnel was refused with HTTP status " + strconv.Itoa(re.Status) + ": " + re.Message
	case errors.As(err, &ce):
		return "Websocket Closure Reason: " + ce.Reason
	}
	return err.Error()
}
