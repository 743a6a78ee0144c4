package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openenroll/stationd/station/bus"
)

type refused struct{ msg string }

func (r refused) Error() string { return r.msg }
func (r refused) Code() string  { return "refused" }

func TestCommandsAndBus(t *testing.T) {
	b := bus.New()
	release := make(chan struct{})
	srv := New(Options{Bus: b, Commands: map[string]CommandFunc{
		"echo.it": func(ctx context.Context, p json.RawMessage) (any, error) {
			var in map[string]any
			json.Unmarshal(p, &in)
			return in, nil
		},
		"always.refuse": func(ctx context.Context, p json.RawMessage) (any, error) {
			return nil, refused{"not now"}
		},
		"wait.long": func(ctx context.Context, p json.RawMessage) (any, error) {
			select {
			case <-release:
				return "released", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	}})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	read := func() Envelope {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var e Envelope
		if err := ws.ReadJSON(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if read().Type != "hello" {
		t.Fatal("no hello")
	}
	// A long command does not hold up a quick one sent after it.
	ws.WriteJSON(map[string]any{"v": 1, "type": "wait.long", "id": "w"})
	ws.WriteJSON(map[string]any{"v": 1, "type": "echo.it", "id": "e", "payload": map[string]any{"x": 1}})
	if e := read(); e.Type != "echo.it.result" || e.ID != "e" || string(e.Payload) != `{"x":1}` {
		t.Fatalf("echo: %+v %s", e, e.Payload)
	}
	ws.WriteJSON(map[string]any{"v": 1, "type": "always.refuse", "id": "r"})
	e := read()
	var ep ErrorPayload
	json.Unmarshal(e.Payload, &ep)
	if e.Type != "error" || e.ID != "r" || ep.Code != "refused" || ep.Message != "not now" {
		t.Fatalf("refusal: %+v", e)
	}
	ws.WriteJSON(map[string]any{"v": 1, "type": "no.such", "id": "n"})
	if e := read(); e.Type != "error" || !strings.Contains(string(e.Payload), "unknown_type") {
		t.Fatalf("unknown: %s", e.Payload)
	}
	close(release)
	if e := read(); e.Type != "wait.long.result" || e.ID != "w" {
		t.Fatalf("long: %+v", e)
	}
	// Bus messages reach the client; a binary part follows its envelope.
	b.Publish(Message{Type: "session.updated", Payload: map[string]int{"rev": 3}})
	b.Publish(Message{Type: "preview.finger", Preview: true, Payload: map[string]string{"format": "png"}, Binary: []byte{1, 2, 3}})
	if e := read(); e.Type != "session.updated" {
		t.Fatalf("bus: %+v", e)
	}
	if e := read(); e.Type != "preview.finger" {
		t.Fatalf("preview: %+v", e)
	}
	mt, data, err := ws.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || len(data) != 3 {
		t.Fatalf("binary: %d %v %v", mt, data, err)
	}
	// Oversize messages close the connection.
	ws.WriteMessage(websocket.TextMessage, []byte(`{"v":1,"type":"echo.it","payload":{"x":"`+strings.Repeat("a", MaxMessageBytes)+`"}}`))
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) && !errors.Is(err, websocket.ErrCloseSent) {
				t.Logf("after oversize message: %v", err)
			}
			break
		}
	}
}

// Message aliases bus.Message for the test's brevity.
type Message = bus.Message
