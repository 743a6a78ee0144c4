package fanout

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDropOldest(t *testing.T) {
	q := New[int](3)
	for i := 1; i <= 5; i++ {
		q.Push(i)
	}
	v, missed, err := q.Next(context.Background())
	if err != nil || v != 3 || missed != 2 {
		t.Fatalf("got %d missed %d err %v, want 3 missed 2", v, missed, err)
	}
	v, missed, _ = q.Next(context.Background())
	if v != 4 || missed != 0 || q.Dropped() != 2 || q.Len() != 1 {
		t.Fatalf("got %d missed %d dropped %d len %d", v, missed, q.Dropped(), q.Len())
	}
}

func TestCloseDrainsThenEnds(t *testing.T) {
	q := New[string](4)
	q.Push("a")
	q.Close()
	if q.Push("b") {
		t.Fatal("push after close accepted")
	}
	if v, _, err := q.Next(context.Background()); v != "a" || err != nil {
		t.Fatalf("drain: %q %v", v, err)
	}
	if _, _, err := q.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after drain: %v", err)
	}
}

func TestNextWaitsAndCancels(t *testing.T) {
	q := New[int](1)
	got := make(chan int)
	go func() {
		v, _, _ := q.Next(context.Background())
		got <- v
	}()
	q.Push(7)
	if v := <-got; v != 7 {
		t.Fatal(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, _, err := q.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancel: %v", err)
	}
}
