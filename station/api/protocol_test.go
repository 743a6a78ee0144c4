package api

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeEnvelope(t *testing.T) {
	good := []string{
		`{"v":1,"type":"ping"}`,
		`{"v":1,"type":"devices.list","id":"r-1","payload":{}}`,
		`{"v":1,"type":"session.finger.except","id":"a:b","time":"2026-11-27T05:00:00Z","payload":{"finger":3}}`,
		`{"v":1,"type":"ping","payload":null}`,
	}
	for _, g := range good {
		if _, err := DecodeEnvelope([]byte(g)); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := []struct{ msg, field, says string }{
		{`{"type":"ping"}`, "v", "missing"},
		{`{"v":2,"type":"ping"}`, "v", "version 2"},
		{`{"v":1,"type":"Ping"}`, "type", "not a message type"},
		{`{"v":1,"type":"a..b"}`, "type", ""},
		{`{"v":1,"type":"ping","id":"has space"}`, "id", ""},
		{`{"v":1,"type":"ping","payload":[1]}`, "payload", "object"},
		{`{"v":1,"type":"ping","extra":1}`, "", "unknown field"},
		{`{"v":"1","type":"ping"}`, "v", "wrong type"},
		{`{"v":1,"type":"ping"} {}`, "", "more than one"},
		{`{"v":1,`, "", ""},
		{`[]`, "", ""},
		{`{"v":1,"type":"` + strings.Repeat("a", MaxMessageBytes) + `"}`, "", "limit"},
	}
	for _, b := range bad {
		_, err := DecodeEnvelope([]byte(b.msg))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%.60s: want *DecodeError, got %v", b.msg, err)
			continue
		}
		if de.Field != b.field || !strings.Contains(err.Error(), b.says) {
			t.Errorf("%.60s: got field %q error %q, want field %q mentioning %q", b.msg, de.Field, err, b.field, b.says)
		}
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"devices.list","id":"r1","payload":{"x":[1,2]}}`))
	f.Add([]byte(`{"v":1,"type":"ping","time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":1e3,"type":"\u0000"}`))
	f.Add([]byte(`{"payload":  {"a":"b"} ,"v":1,"type":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			if !utf8.ValidString(err.Error()) && utf8.Valid(b) {
				t.Fatalf("error message not UTF-8: %q", err)
			}
			return
		}
		if e.V != ProtocolVersion || !typeRE.MatchString(e.Type) {
			t.Fatalf("accepted invalid envelope %+v", e)
		}
		if e.ID != "" && !idRE.MatchString(e.ID) {
			t.Fatalf("accepted invalid id %q", e.ID)
		}
	})
}
