package uplink

import (
	"testing"
	"time"
)

func TestTokenBucketCapsRate(t *testing.T) {
	clock := time.Unix(1000, 0)
	b := newTokenBucket(1000, 100) // 1000 B/s, burst 100
	b.now = func() time.Time { return clock }
	b.last = clock
	if d := b.reserve(100); d != 0 {
		t.Fatalf("burst: wait %v", d)
	}
	if d := b.reserve(500); d != 500*time.Millisecond {
		t.Fatalf("500 B past the burst: wait %v, want 500ms", d)
	}
	// The caller waited; in total 1100 B over 1 s of clock = burst + rate·t.
	clock = clock.Add(500 * time.Millisecond)
	if d := b.reserve(500); d != 500*time.Millisecond {
		t.Fatalf("next 500 B: wait %v, want 500ms", d)
	}
	// Idle for a long time: credit is capped at the burst.
	clock = clock.Add(time.Hour)
	b.reserve(0)
	if d := b.reserve(200); d != 100*time.Millisecond {
		t.Fatalf("after idling: wait %v, want 100ms (burst cap)", d)
	}
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{cfg: ClientConfig{BackoffMin: time.Second, BackoffMax: time.Minute}}
	for n := 0; n < 70; n++ {
		step := time.Minute
		if n < 6 {
			step = time.Second << n
		}
		for i := 0; i < 50; i++ {
			d := c.backoff(n)
			if d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, step/2, step)
			}
		}
	}
}
