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

// pacer holds a byte stream to a line rate. It is a token bucket kept as a
// virtual schedule (the GCRA form): next is the monotonic instant at which
// the line has finished sending everything already given to it. Each chunk
// is handed to the pty only when its last byte would have left a real UART,
// so bytes never arrive earlier than on a real line. Within one answer the
// schedule is absolute: a late timer wake-up or a starved process is caught
// up by the following chunks (as a UART with a full FIFO keeps sending back
// to back) instead of adding up. At the start of each answer (idle) the
// bucket is emptied: a line that was idle earns no credit. A zero pacer
// (baud 0) does not pace.
type pacer struct {
	baud int
	next time.Time // carries Go's monotonic clock reading
}

func (p *pacer) byteTime() time.Duration {
	return time.Duration(int64(time.Second) * bitsPerByte / int64(p.baud))
}

// idle marks the start of an answer after the line was idle (the command
// was coming in): the schedule restarts at now if it lies in the past.
func (p *pacer) idle(now time.Time) {
	if p.next.Before(now) {
		p.next = now
	}
}

// reserve books n more bytes right after those already booked and returns
// when they are done.
func (p *pacer) reserve(n int) time.Time {
	p.next = p.next.Add(time.Duration(n) * p.byteTime())
	return p.next
}

// write sends b at the line rate, continuing the current schedule (call
// idle first at the start of an answer). quit aborts the wait.
func (p *pacer) write(w io.Writer, b []byte, quit <-chan struct{}) error {
	if p.baud <= 0 {
		_, err := w.Write(b)
		return err
	}
	chunk := max(1, int(chunkTime/p.byteTime()))
	for len(b) > 0 {
		n := min(chunk, len(b))
		if !sleepUntil(p.reserve(n), quit) {
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
