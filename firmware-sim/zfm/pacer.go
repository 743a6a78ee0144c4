package zfm

import (
	"io"
	"time"
)

// bitsPerByte on an 8N1 line: start bit, 8 data bits, stop bit.
const bitsPerByte = 10

// chunkTime is how much line time one write to the pty carries. Smaller
// means smoother delivery but more syscalls and timer wake-ups.
const chunkTime = 2 * time.Millisecond

// bucketDepth is the token bucket's depth: how far the schedule may lag
// behind the clock (a late wake-up, a slow pty write) and still be caught
// up, as a real UART with a FIFO full would keep sending back to back. Past
// it the line counts as having been idle.
const bucketDepth = 2 * chunkTime

// pacer holds a byte stream to a line rate. It is a token bucket kept as a
// virtual schedule (GCRA): next is the monotonic instant at which the line
// has finished sending everything already given to it. Each chunk is handed
// to the pty only when its last byte would have left a real UART, and the
// schedule is absolute, so a late timer wake-up is absorbed by the following
// chunks instead of accumulating. An idle line earns no credit (no burst
// after a pause). A zero pacer (baud 0) does not pace.
type pacer struct {
	baud int
	next time.Time // carries Go's monotonic clock reading
}

func (p *pacer) byteTime() time.Duration {
	return time.Duration(int64(time.Second) * bitsPerByte / int64(p.baud))
}

// reserve books n bytes on the line starting no earlier than from, and
// returns when they are done.
func (p *pacer) reserve(from time.Time, n int) time.Time {
	if from.Sub(p.next) > bucketDepth {
		p.next = from
	}
	p.next = p.next.Add(time.Duration(n) * p.byteTime())
	return p.next
}

// write sends b at the line rate. quit aborts the wait.
func (p *pacer) write(w io.Writer, b []byte, quit <-chan struct{}) error {
	if p.baud <= 0 {
		_, err := w.Write(b)
		return err
	}
	chunk := max(1, int(chunkTime/p.byteTime()))
	for len(b) > 0 {
		n := min(chunk, len(b))
		due := p.reserve(time.Now(), n)
		if !sleepUntil(due, quit) {
			return errQuit
		}
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// sleepUntil waits for the monotonic instant t; false if quit closed first.
func sleepUntil(t time.Time, quit <-chan struct{}) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-quit:
			return false
		default:
			return true
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-quit:
		return false
	}
}
