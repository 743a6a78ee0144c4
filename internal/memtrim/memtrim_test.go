package memtrim

import (
	"context"
	"testing"
	"time"
)

// Trim reads the resident size before and after; Run stops with its
// context.
func TestTrim(t *testing.T) {
	b, a := Trim()
	if b <= 0 || a <= 0 {
		t.Fatalf("resident size before %d, after %d", b, a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, time.Millisecond, nil) }()
	cancel()
	<-done
}
