// Package bus carries the station's own events (sessions, quality results,
// previews, outbox and uplink status) to everyone following them: the
// operator UI's websockets, metrics, logs. Publishing never blocks; a slow
// follower loses its oldest messages and is told how many.
package bus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openenroll/stationd/devices/fanout"
)

// Message is one event. Binary, when set, is sent as a binary websocket
// frame after the JSON envelope (a preview image); thinning may drop it.
type Message struct {
	Type    string
	Time    time.Time
	Payload any
	Binary  []byte
	// Preview marks a message that a slow follower may skip without
	// losing state (live previews): only the newest one matters.
	Preview bool
}

// Bus fans messages out to subscribers.
type Bus struct {
	mu     sync.Mutex
	subs   map[*Sub]struct{}
	closed bool
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: map[*Sub]struct{}{}} }

// Sub is one follower.
type Sub struct {
	b *Bus
	q *fanout.Queue[Message]
	// latest holds only the newest preview per type, so previews never
	// push state messages out of the queue.
	pmu     sync.Mutex
	preview map[string]Message
	pnotify chan struct{}
}

// ErrClosed is returned by Next after the bus or the subscription closed.
var ErrClosed = errors.New("bus: closed")

// Publish sends m to every subscriber, stamping its time.
func (b *Bus) Publish(m Message) {
	if m.Time.IsZero() {
		m.Time = time.Now().UTC()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if m.Preview {
			s.pmu.Lock()
			s.preview[m.Type] = m
			s.pmu.Unlock()
			select {
			case s.pnotify <- struct{}{}:
			default:
			}
			continue
		}
		s.q.Push(m)
	}
}

// Followers reports how many subscribers the bus has, so that a producer
// can skip preparing a preview (encoding a frame) nobody would see.
func (b *Bus) Followers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Subscribe follows the bus with a queue of n state messages.
func (b *Bus) Subscribe(n int) *Sub {
	s := &Sub{b: b, q: fanout.New[Message](n), preview: map[string]Message{}, pnotify: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.q.Close()
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// Next returns the next message: state messages first, in order, then the
// newest preview of each type. missed counts state messages lost before it.
func (s *Sub) Next(ctx context.Context) (m Message, missed uint64, err error) {
	for {
		if s.q.Len() > 0 {
			m, missed, err = s.q.Next(ctx)
			return m, missed, err
		}
		s.pmu.Lock()
		for t, p := range s.preview {
			delete(s.preview, t)
			s.pmu.Unlock()
			return p, 0, nil
		}
		s.pmu.Unlock()
		// Wait for either kind, without consuming a state message here.
		wctx, cancel := context.WithCancel(ctx)
		got := make(chan struct{})
		go func() {
			select {
			case <-s.pnotify:
				cancel() // a preview arrived: stop waiting for state messages
			case <-wctx.Done():
			}
			close(got)
		}()
		m, missed, err = s.q.Next(wctx)
		cancel()
		<-got
		if err == nil {
			return m, missed, nil
		}
		if errors.Is(err, fanout.ErrClosed) {
			return m, 0, ErrClosed
		}
		if ctx.Err() != nil {
			return m, 0, ctx.Err()
		}
		// Woken by a preview: loop to deliver it.
	}
}

// Close stops the subscription.
func (s *Sub) Close() {
	s.b.mu.Lock()
	delete(s.b.subs, s)
	s.b.mu.Unlock()
	s.q.Close()
}

// Close ends every subscription.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		s.q.Close()
	}
	b.subs = map[*Sub]struct{}{}
}
