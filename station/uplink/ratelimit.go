package uplink

import (
	"context"
	"sync"
	"time"
)

// tokenBucket caps a byte rate: it holds up to burst tokens, refilled at
// rate per second; take waits until n tokens are available.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst int64) *tokenBucket {
	return &tokenBucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// take removes n tokens, waiting as needed; n may exceed burst (the wait is
// then longer). It returns ctx's error if cancelled while waiting.
func (b *tokenBucket) take(ctx context.Context, n int) error {
	b.mu.Lock()
	now := time.Now()
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	b.tokens -= float64(n)
	deficit := -b.tokens
	b.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(deficit / b.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
