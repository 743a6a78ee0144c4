// Package fanout is a bounded queue for one consumer of a stream that many
// consumers follow: the producer never waits, and a consumer that falls
// behind loses its oldest items (and is told how many) rather than holding
// anyone up. The device registry's subscriptions and the station's event
// bus are built on it.
package fanout

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Next once the queue is closed and drained.
var ErrClosed = errors.New("fanout: closed")

// Queue is a drop-oldest ring buffer with a blocking Next.
type Queue[T any] struct {
	mu     sync.Mutex
	q      []T
	head   int    // index of the oldest item
	n      int    // items queued
	missed uint64 // dropped since the last Next
	total  uint64 // dropped in all
	closed bool
	notify chan struct{}
	done   chan struct{}
}

// New returns a queue holding at most size items (at least 1).
func New[T any](size int) *Queue[T] {
	return &Queue[T]{q: make([]T, max(size, 1)), notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// Push adds an item without ever blocking, dropping the oldest when full.
// It reports false when the queue is closed.
func (q *Queue[T]) Push(v T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.q) {
		var zero T
		q.q[q.head] = zero
		q.head = (q.head + 1) % len(q.q)
		q.n--
		q.missed++
		q.total++
	}
	q.q[(q.head+q.n)%len(q.q)] = v
	q.n++
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// Next returns the oldest item and how many items were dropped just before
// it, waiting for one when the queue is empty. After Close it drains what
// is queued, then returns ErrClosed.
func (q *Queue[T]) Next(ctx context.Context) (v T, missed uint64, err error) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			var zero T
			v = q.q[q.head]
			q.q[q.head] = zero
			q.head = (q.head + 1) % len(q.q)
			q.n--
			missed, q.missed = q.missed, 0
			q.mu.Unlock()
			return v, missed, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return v, 0, ErrClosed
		}
		select {
		case <-ctx.Done():
			return v, 0, ctx.Err()
		case <-q.notify:
		case <-q.done:
		}
	}
}

// Dropped returns how many items were dropped in all.
func (q *Queue[T]) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// Len returns how many items are queued.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Close ends the queue; a waiting Next returns once the queue is drained.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}
