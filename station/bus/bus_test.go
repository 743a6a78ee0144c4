package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func next(t *testing.T, s *Sub) (Message, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, missed, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m, missed
}

func TestStateInOrderPreviewsThinned(t *testing.T) {
	b := New()
	s := b.Subscribe(8)
	defer s.Close()
	b.Publish(Message{Type: "session.updated", Payload: 1})
	for i := range 10 {
		b.Publish(Message{Type: "preview.face", Preview: true, Payload: i})
	}
	b.Publish(Message{Type: "session.updated", Payload: 2})
	m1, _ := next(t, s)
	m2, _ := next(t, s)
	if m1.Payload != 1 || m2.Payload != 2 {
		t.Fatalf("state messages: %v %v", m1.Payload, m2.Payload)
	}
	p, _ := next(t, s)
	if p.Type != "preview.face" || p.Payload != 9 {
		t.Fatalf("want only the newest preview, got %+v", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := s.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("older previews delivered: %v", err)
	}
}

func TestWakesOnPreviewAndOverflow(t *testing.T) {
	b := New()
	if b.Followers() != 0 {
		t.Fatal("new bus has followers")
	}
	s := b.Subscribe(2)
	if b.Followers() != 1 {
		t.Fatal("subscriber not counted")
	}
	got := make(chan Message)
	go func() {
		m, _, _ := s.Next(context.Background())
		got <- m
	}()
	time.Sleep(5 * time.Millisecond) // let Next block (not a correctness dependency)
	b.Publish(Message{Type: "preview.finger", Preview: true})
	if m := <-got; m.Type != "preview.finger" {
		t.Fatal(m)
	}
	for i := range 5 {
		b.Publish(Message{Type: "x", Payload: i})
	}
	m, missed := next(t, s)
	if m.Payload != 3 || missed != 3 {
		t.Fatalf("overflow: %+v missed %d", m, missed)
	}
	b.Close()
	next(t, s)
	if _, _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
