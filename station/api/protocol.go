// Package api is stationd's local API: the HTTP endpoints (/healthz,
// /metrics, /api/...) and the /ws websocket the operator UI and stationctl
// use. Its message format is documented in docs/api.md.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ProtocolVersion is the version of the websocket message envelope. A
// client sending another version gets an error reply naming both.
const ProtocolVersion = 1

// MaxMessageBytes bounds one client message. Commands are small JSON
// objects; anything larger is a mistake or an attack and closes the socket.
const MaxMessageBytes = 64 << 10

// Envelope is every JSON message on /ws, in both directions.
type Envelope struct {
	V    int       `json:"v"`
	Type string    `json:"type"`
	ID   string    `json:"id,omitempty"` // request id: set by the client, echoed in the reply
	Time time.Time `json:"time"`
	// Payload is the type-specific body (a JSON object), absent when empty.
	Payload json.RawMessage `json:"payload,omitempty"`
}

var (
	typeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,4}$`)
	idRE   = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
)

// DecodeError says what is wrong with a client message.
type DecodeError struct {
	Field string // envelope field at fault, "" for the message as a whole
	Msg   string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "message: " + e.Msg
	}
	return "message field " + e.Field + ": " + e.Msg
}

// DecodeEnvelope parses one client message strictly: a JSON object with
// only the envelope's fields, the current protocol version, a well-formed
// type and request id, and an object (or nothing) as payload.
func DecodeEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if len(b) > MaxMessageBytes {
		return e, &DecodeError{Msg: fmt.Sprintf("%d bytes, more than the limit of %d", len(b), MaxMessageBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw struct {
		V       *int            `json:"v"`
		Type    string          `json:"type"`
		ID      string          `json:"id"`
		Time    *time.Time      `json:"time"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := dec.Decode(&raw); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return e, &DecodeError{Msg: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
		case errors.As(err, &te):
			return e, &DecodeError{Field: te.Field, Msg: fmt.Sprintf("wrong type %s", te.Value)}
		default:
			return e, &DecodeError{Msg: err.Error()}
		}
	}
	if dec.More() {
		return e, &DecodeError{Msg: "more than one JSON value"}
	}
	if raw.V == nil {
		return e, &DecodeError{Field: "v", Msg: "missing (protocol version)"}
	}
	if *raw.V != ProtocolVersion {
		return e, &DecodeError{Field: "v", Msg: fmt.Sprintf("protocol version %d is not supported (this stationd speaks %d)", *raw.V, ProtocolVersion)}
	}
	if !typeRE.MatchString(raw.Type) {
		return e, &DecodeError{Field: "type", Msg: fmt.Sprintf("%q is not a message type (lower-case words joined by dots)", truncate(raw.Type))}
	}
	if raw.ID != "" && !idRE.MatchString(raw.ID) {
		return e, &DecodeError{Field: "id", Msg: "request id must be 1-64 letters, digits or ._:-"}
	}
	if len(raw.Payload) > 0 && !bytes.Equal(raw.Payload, []byte("null")) {
		if p := bytes.TrimLeft(raw.Payload, " \t\r\n"); len(p) == 0 || p[0] != '{' {
			return e, &DecodeError{Field: "payload", Msg: "must be a JSON object"}
		}
		e.Payload = raw.Payload
	}
	e.V, e.Type, e.ID = *raw.V, raw.Type, raw.ID
	if raw.Time != nil {
		e.Time = *raw.Time
	}
	return e, nil
}

func truncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// NewEnvelope builds a server message with the current time.
func NewEnvelope(typ, id string, payload any) (Envelope, error) {
	e := Envelope{V: ProtocolVersion, Type: typ, ID: id, Time: time.Now().UTC()}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return e, fmt.Errorf("encoding %s payload: %w", typ, err)
		}
		e.Payload = b
	}
	return e, nil
}

// ErrorPayload is the body of an "error" reply.
type ErrorPayload struct {
	Code    string `json:"code"`    // stable, for programs and translations: "bad_message", "unknown_type"...
	Message string `json:"message"` // English, for logs and technicians
}
