package camera

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

// Frame is one image from the camera, shared by every subscriber that
// received it. Mat is BGR, 8 bits a channel, and must be treated as
// read-only; it stays valid until the receiver calls Release (exactly
// once per frame received).
type Frame struct {
	Seq  uint64        // frames read since the camera was opened, from 0
	Time time.Duration // stream time of the frame (Seq / fps when the source gives none)
	At   time.Time     // when it was read
	Mat  gocv.Mat
	refs atomic.Int32
}

func newFrame(seq uint64, t time.Duration, m gocv.Mat) *Frame {
	f := &Frame{Seq: seq, Time: t, At: time.Now(), Mat: m}
	f.refs.Store(1)
	return f
}

func (f *Frame) retain() { f.refs.Add(1) }

// Release gives the frame back; the last release frees its pixels.
func (f *Frame) Release() {
	switch n := f.refs.Add(-1); {
	case n == 0:
		f.Mat.Close()
	case n < 0:
		panic("camera: Frame released more often than received")
	}
}

// ErrClosed is returned by Next once the camera or the subscription is closed.
var ErrClosed = errors.New("camera: closed")

// Subscription is one consumer's queue of frames. A full queue drops its
// oldest frame, so a slow consumer always gets the newest picture and
// never slows the camera down.
type Subscription struct {
	cam    *Device
	mu     sync.Mutex
	q      []*Frame
	head   int
	n      int
	drops  uint64
	closed bool
	notify chan struct{}
	done   chan struct{}
}

func (s *Subscription) push(f *Frame) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	f.retain()
	var old *Frame
	if s.n == len(s.q) {
		old = s.q[s.head]
		s.q[s.head] = nil
		s.head = (s.head + 1) % len(s.q)
		s.n--
		s.drops++
	}
	s.q[(s.head+s.n)%len(s.q)] = f
	s.n++
	s.mu.Unlock()
	if old != nil {
		old.Release()
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Next returns the oldest queued frame, waiting for one. The caller must
// Release it. It returns ErrClosed when the subscription or the camera is
// closed (the camera closes when it is unplugged or its stream ends), or
// the context's error.
func (s *Subscription) Next(ctx context.Context) (*Frame, error) {
	for {
		s.mu.Lock()
		if s.n > 0 {
			f := s.q[s.head]
			s.q[s.head] = nil
			s.head = (s.head + 1) % len(s.q)
			s.n--
			s.mu.Unlock()
			return f, nil
		}
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.notify:
		case <-s.done:
		}
	}
}

// Dropped returns how many frames this subscriber lost to a full queue.
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drops
}

// Close ends the subscription and releases the frames still queued.
func (s *Subscription) Close() {
	if s.cam != nil {
		s.cam.unsubscribe(s)
	}
	s.closeLocal()
}

func (s *Subscription) closeLocal() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	var rest []*Frame
	for ; s.n > 0; s.n-- {
		rest = append(rest, s.q[s.head])
		s.q[s.head] = nil
		s.head = (s.head + 1) % len(s.q)
	}
	close(s.done)
	s.mu.Unlock()
	for _, f := range rest {
		f.Release()
	}
}
