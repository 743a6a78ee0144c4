package api

import "time"

// RateLimit bounds how fast one websocket client may send messages. A
// person clicking through the UI sends a few messages a second; a script
// gone wrong, or a hostile one, sends thousands.
type RateLimit struct {
	// PerSecond is the sustained rate of messages (default 20).
	PerSecond float64 `toml:"per_second"`
	// Burst is how many may come at once after a quiet spell (default 40).
	Burst int `toml:"burst"`
	// Disconnect closes a client after this many refused messages in a
	// row (default 200): it is not listening to its "rate_limited" errors.
	Disconnect int `toml:"disconnect"`
}

func (r RateLimit) withDefaults() RateLimit {
	if r.PerSecond <= 0 {
		r.PerSecond = 20
	}
	if r.Burst <= 0 {
		r.Burst = 40
	}
	if r.Disconnect <= 0 {
		r.Disconnect = 200
	}
	return r
}

// bucket is a token bucket: Burst tokens, refilled at PerSecond.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(r RateLimit, now time.Time) *bucket {
	return &bucket{rate: r.PerSecond, burst: float64(r.Burst), tokens: float64(r.Burst), last: now}
}

// take spends one token if there is one.
func (b *bucket) take(now time.Time) bool {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
