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

// With a preview window, a client that has not acknowledged its frames
// gets no more; the newest of each kind waits and comes with the next
// acknowledgement (a one-shot fingerprint image is never lost).
func TestPreviewFlowControl(t *testing.T) {
	b := bus.New()
	srv := New(Options{Bus: b, NoUI: true})
	hs := httptest.NewServer(srv.Handler())
	defer func() { hs.Close(); srv.Close(); b.Close() }()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	got := map[string]byte{}
	read := func() (Envelope, []byte) {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("%v (got so far %v)", err, got)
		}
		if mt == websocket.BinaryMessage {
			return Envelope{}, data
		}
		var e Envelope
		json.Unmarshal(data, &e)
		return e, nil
	}
	read() // hello
	ws.WriteJSON(map[string]any{"v": 1, "type": "preview.window", "id": "w", "payload": map[string]int{"frames": 1}})
	if e, _ := read(); e.Type != "preview.window.result" {
		t.Fatalf("window: %+v", e)
	}
	ws.WriteJSON(map[string]any{"v": 1, "type": "preview.window", "id": "w2", "payload": map[string]int{"frames": 99}})
	if e, _ := read(); e.Type != "error" {
		t.Fatalf("window 99 accepted: %+v", e)
	}
	b.Publish(Message{Type: "preview.face", Preview: true, Payload: map[string]int{"n": 1}, Binary: []byte{1}})
	if e, _ := read(); e.Type != "preview.face" {
		t.Fatalf("first frame: %+v", e)
	}
	read() // its image
	// Unacknowledged: these wait; only the newest face frame and the
	// finger image are kept. A state event is not held back.
	b.Publish(Message{Type: "preview.face", Preview: true, Payload: map[string]int{"n": 2}, Binary: []byte{2}})
	b.Publish(Message{Type: "preview.finger", Preview: true, Payload: map[string]int{"n": 1}, Binary: []byte{9}})
	b.Publish(Message{Type: "preview.face", Preview: true, Payload: map[string]int{"n": 3}, Binary: []byte{3}})
	b.Publish(Message{Type: "session.updated", Payload: map[string]int{"rev": 1}})
	if e, _ := read(); e.Type != "session.updated" {
		t.Fatalf("state event held back behind previews: %+v", e)
	}
	// An acknowledgement may overtake the server's taking of the newer
	// frames from the bus, so face frame 2 may still go out first; what
	// must hold is that the finger image comes and the newest face frame
	// ends the stream, within one extra acknowledgement.
	for i := 0; i < 3 && (got["preview.finger"] != 9 || got["preview.face"] != 3); i++ {
		ws.WriteJSON(map[string]any{"v": 1, "type": "preview.ack"})
		e, _ := read()
		_, img := read()
		got[e.Type] = img[0]
	}
	if got["preview.finger"] != 9 || got["preview.face"] != 3 {
		t.Fatalf("after acknowledgements got %v, want the finger image and face frame 3", got)
	}
}
