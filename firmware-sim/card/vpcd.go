package card

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// DefaultVPCDAddr is where vpcd (pcscd's virtual reader driver) listens
// for a card: CHANNELID 0x8C7B of /etc/reader.conf.d/vpcd.
const DefaultVPCDAddr = "127.0.0.1:35963"

// vpcd control frames (vsmartcard's vpcd protocol: a frame of length 1).
const (
	ctlPowerOff = 0x00
	ctlPowerOn  = 0x01
	ctlReset    = 0x02
	ctlATR      = 0x04
)

type linkState struct {
	mu   sync.Mutex
	conn net.Conn
	done chan struct{}
	err  error
}

// Insert connects the card to vpcd at addr (the card appears in the reader)
// and serves it in the background until Remove, a pull fault, or vpcd
// hanging up.
func (c *Card) Insert(ctx context.Context, addr string) error {
	l := &c.link
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		select {
		case <-l.done:
		default:
			return errors.New("card: already inserted")
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("card: connect to vpcd at %s (is pcscd running with the vpcd reader?): %w", addr, err)
	}
	l.conn, l.done, l.err = conn, make(chan struct{}), nil
	go c.serve(conn, l.done)
	return nil
}

// Remove pulls the card out of the reader and waits until the link is down.
func (c *Card) Remove() {
	l := &c.link
	l.mu.Lock()
	conn, done := l.conn, l.done
	l.mu.Unlock()
	if conn == nil {
		return
	}
	conn.Close()
	<-done
}

// Done is closed when the current insertion ends (nil if never inserted).
func (c *Card) Done() <-chan struct{} {
	c.link.mu.Lock()
	defer c.link.mu.Unlock()
	return c.link.done
}

func (c *Card) serve(conn net.Conn, done chan struct{}) {
	defer close(done)
	defer conn.Close()
	var hdr [2]byte
	buf := make([]byte, 65536+16)
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		quickAck(conn)
		if _, err := io.ReadFull(conn, buf[:n]); err != nil {
			return
		}
		var out []byte
		if n == 1 {
			switch buf[0] {
			case ctlPowerOff, ctlPowerOn, ctlReset:
				c.mu.Lock()
				c.reset()
				c.mu.Unlock()
				continue
			case ctlATR:
				out = ATR
			default:
				continue
			}
		} else {
			c.mu.Lock()
			f := &c.faults
			pull := false
			if f.PullAfter > 0 {
				f.PullAfter--
				pull = f.PullAfter == 0
			}
			delay := f.Delay
			c.mu.Unlock()
			if pull {
				return // the card leaves the field mid-command
			}
			if delay > 0 {
				time.Sleep(delay) // simulated slow chip, not synchronisation
			}
			out = c.Process(buf[:n])
		}
		frame := make([]byte, 2+len(out))
		binary.BigEndian.PutUint16(frame, uint16(len(out)))
		copy(frame[2:], out)
		if _, err := conn.Write(frame); err != nil {
			return
		}
	}
}

// quickAck turns on TCP_QUICKACK before each read: Debian's vpcd writes the
// length and the payload in two segments, and with delayed ACKs every APDU
// would wait ~40-50 ms for the Nagle/delayed-ACK interplay.
func quickAck(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
