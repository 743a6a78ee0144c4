package zfm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, f := range []Frame{
		{Address: DefaultAddress, PID: PIDCommand, Payload: []byte{CmdGenImg}},
		{Address: 0x12345678, PID: PIDAck, Payload: []byte{0x00, 0x01, 0x02}},
		{Address: 0, PID: PIDDataLast, Payload: bytes.Repeat([]byte{0xEF, 0x01}, MaxPayload/2)},
	} {
		b := AppendFrame(nil, f)
		if len(b) != overhead+len(f.Payload) {
			t.Fatalf("encoded %d bytes", len(b))
		}
		g, n, err := ParseFrame(b)
		if err != nil || n != len(b) || g.Address != f.Address || g.PID != f.PID || !bytes.Equal(g.Payload, f.Payload) {
			t.Fatalf("parse %x: %+v %d %v", b, g, n, err)
		}
	}
	// The manual's GenImg example: EF01 FFFFFFFF 01 0003 01 0005.
	want := []byte{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x03, 0x01, 0x00, 0x05}
	if b := AppendFrame(nil, Frame{Address: DefaultAddress, PID: PIDCommand, Payload: []byte{CmdGenImg}}); !bytes.Equal(b, want) {
		t.Fatalf("GenImg encodes as %X", b)
	}
}

func TestParseFrameResync(t *testing.T) {
	f := AppendFrame(nil, Frame{Address: DefaultAddress, PID: PIDAck, Payload: []byte{0x02}})
	for _, junk := range [][]byte{
		{0x00, 0x55},
		{0xEF},             // lone EF right before the real EF 01
		{0xEF, 0xEF},       // two
		{0xEF, 0x01, 0x00}, // a false header start, then the real one
		{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x09, 0x00, 0x03}, // bad PID
		{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x01}, // length too short
		{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x7F, 0xFF}, // length too long
	} {
		b := append(append([]byte(nil), junk...), f...)
		g, n, err := ParseFrame(b)
		if err != nil || n != len(b) || g.PID != PIDAck || !bytes.Equal(g.Payload, []byte{0x02}) {
			t.Errorf("junk %X: %+v consumed %d, %v", junk, g, n, err)
		}
	}
}

func TestParseFrameIncompleteAndChecksum(t *testing.T) {
	f := AppendFrame(nil, Frame{Address: DefaultAddress, PID: PIDAck, Payload: []byte{0x00, 0x01}})
	for i := range len(f) {
		b := append([]byte{0x11, 0x22}, f[:i]...)
		_, n, err := ParseFrame(b)
		if !errors.Is(err, errNeedMore) {
			t.Fatalf("%d bytes: %v", i, err)
		}
		if i > 0 && n != 2 {
			t.Fatalf("%d bytes: consumed %d, want the 2 garbage bytes", i, n)
		}
	}
	bad := append([]byte(nil), f...)
	bad[len(bad)-1] ^= 1
	_, n, err := ParseFrame(append(bad, f...))
	if !errors.Is(err, ErrChecksum) || n != len(bad) {
		t.Fatalf("bad checksum: consumed %d, %v", n, err)
	}
}

// FuzzParseFrame feeds arbitrary bytes to the frame parser: it must never
// panic, always make progress, and what it accepts must re-encode to the
// same bytes.
func FuzzParseFrame(f *testing.F) {
	ack := AppendFrame(nil, Frame{Address: DefaultAddress, PID: PIDAck, Payload: []byte{0x00}})
	f.Add(ack)
	f.Add(append([]byte{0xEF, 0xEF, 0x01, 0x00}, ack...))
	f.Add(AppendFrame(nil, Frame{Address: 1, PID: PIDData, Payload: bytes.Repeat([]byte{0x77}, 128)}))
	f.Add([]byte{0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x01, 0x02})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rest := b
		for len(rest) > 0 {
			fr, n, err := ParseFrame(rest)
			if n < 0 || n > len(rest) {
				t.Fatalf("consumed %d of %d", n, len(rest))
			}
			if errors.Is(err, errNeedMore) {
				return
			}
			if n == 0 {
				t.Fatal("no progress")
			}
			if err == nil {
				enc := AppendFrame(nil, fr)
				if !bytes.Equal(enc, rest[n-len(enc):n]) {
					t.Fatalf("accepted %X re-encodes as %X", rest[n-len(enc):n], enc)
				}
			} else if !errors.Is(err, ErrChecksum) {
				t.Fatalf("unexpected error %v", err)
			}
			rest = rest[n:]
		}
	})
}

// replyConn accepts any write and answers reads from a fixed byte string.
type replyConn struct{ b []byte }

func (c *replyConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *replyConn) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.b)
	c.b = c.b[n:]
	return n, nil
}

// FuzzModuleReply feeds arbitrary module answers to each command: the
// driver must return a value or an error, never panic or hang.
func FuzzModuleReply(f *testing.F) {
	ack := func(p ...byte) []byte {
		return AppendFrame(nil, Frame{Address: DefaultAddress, PID: PIDAck, Payload: p})
	}
	f.Add(ack(0, 0, 4, 0, 9, 3, 0xE8, 0, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0, 2, 0, 12))
	f.Add(ack(0, 0, 42))
	f.Add(append(ack(0), AppendFrame(nil, Frame{Address: DefaultAddress, PID: PIDDataLast, Payload: []byte{1, 2, 3, 4}})...))
	f.Add(ack(2))
	f.Add([]byte{0xEF, 0x01, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		cfg := Config{Name: "fuzz", Address: DefaultAddress, CommandTimeout: time.Second}
		_, _ = New(&replyConn{b}, cfg).ReadSysParams(ctx)
		_, _ = New(&replyConn{b}, cfg).TemplateCount(ctx)
		_ = New(&replyConn{b}, cfg).GenImg(ctx)
		if data, err := New(&replyConn{b}, cfg).UpImage(ctx, 8); err == nil && len(data) != 8 {
			t.Fatalf("UpImage accepted %d bytes, want 8", len(data))
		}
	})
}
