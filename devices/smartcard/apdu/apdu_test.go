package apdu

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"testing"
)

func TestEncodeCases(t *testing.T) {
	for _, tc := range []struct {
		c    Command
		want string
	}{
		{Command{INS: 0x84, Ne: 8}, "0084000008"},                                         // case 2S
		{Command{INS: 0xB0, Ne: 256}, "00B0000000"},                                       // Le 00 = 256
		{Command{INS: 0xA4, P1: 2, P2: 0x0C, Data: []byte{1, 0x1E}}, "00A4020C02011E"},    // case 3S
		{Command{INS: 0x88, Data: []byte{1, 2}, Ne: 256}, "008800000201020" + "0"},        // case 4S
		{Command{INS: 0xB0, Ne: 65536}, "00B0000000" + "0000"},                            // case 2E
		{Command{INS: 0xB0, Ne: 1000}, "00B000000003E8"},                                  // case 2E
		{Command{INS: 0xD6, Data: make([]byte, 300)}, "00D60000" + "00012C" + zeros(300)}, // case 3E
		{Command{INS: 0xD6, Data: []byte{7}, Ne: 300, Extended: true}, "00D60000" + "000001" + "07" + "012C"},
	} {
		got, err := tc.c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != lower(tc.want) {
			t.Errorf("%+v:\n got %X\nwant %s", tc.c, got, tc.want)
		}
		back, err := ParseCommand(got)
		if err != nil {
			t.Fatalf("parse %X: %v", got, err)
		}
		if back.INS != tc.c.INS || !bytes.Equal(back.Data, tc.c.Data) && len(tc.c.Data) > 0 || back.Ne != tc.c.Ne {
			t.Errorf("round trip %X -> %+v", got, back)
		}
	}
	if _, err := (Command{Data: make([]byte, 70000)}).Encode(); err == nil {
		t.Error("70000-byte command encoded")
	}
}

func zeros(n int) string { return hex.EncodeToString(make([]byte, n)) }
func lower(s string) string {
	b, _ := hex.DecodeString(s)
	return hex.EncodeToString(b)
}

// script is a Transport that answers from a list and records commands.
type script struct {
	answers [][]byte
	sent    [][]byte
}

func (s *script) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	s.sent = append(s.sent, cmd)
	if len(s.answers) == 0 {
		return nil, errors.New("script exhausted")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a, nil
}

func TestExchangeGetResponseAndWrongLe(t *testing.T) {
	s := &script{answers: [][]byte{{0x61, 0x03}, {1, 2, 3, 0x61, 0x02}, {4, 5, 0x90, 0x00}}}
	r, err := Exchange(context.Background(), s, Command{INS: 0xB0, Ne: 256})
	if err != nil || !bytes.Equal(r.Data, []byte{1, 2, 3, 4, 5}) || r.SW != SWOK {
		t.Fatalf("61xx chain: %+v %v", r, err)
	}
	if hex.EncodeToString(s.sent[1]) != "00c0000003" || hex.EncodeToString(s.sent[2]) != "00c0000002" {
		t.Fatalf("GET RESPONSE commands % X", s.sent)
	}
	s = &script{answers: [][]byte{{0x6C, 0x04}, {9, 9, 9, 9, 0x90, 0x00}}}
	r, err = Exchange(context.Background(), s, Command{INS: 0xB0, Ne: 16})
	if err != nil || len(r.Data) != 4 || hex.EncodeToString(s.sent[1]) != "00b0000004" {
		t.Fatalf("6Cxx: %+v %v % X", r, err, s.sent)
	}
}

func TestStatusErrors(t *testing.T) {
	err := Response{SW: 0x6A82}.Err()
	if !errors.Is(err, ErrFileNotFound) || errors.Is(err, ErrSecurityNotSatisfied) {
		t.Fatalf("errors.Is on %v", err)
	}
	if sw, ok := SW(err); !ok || sw != 0x6A82 {
		t.Fatal("SW() lost the status word")
	}
	if (Response{SW: 0x63C2}).Err().Error() != "card answered 63C2 (verification failed, 2 tries left)" {
		t.Fatal((Response{SW: 0x63C2}).Err())
	}
	if (Response{SW: SWOK}).Err() != nil {
		t.Fatal("9000 is an error")
	}
}

// FuzzParse feeds arbitrary bytes to the command and response decoders:
// no panic, and a parsed command re-encodes to something that parses to
// the same command.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"00A4020C02011E", "00B0000000", "00B00000000000", "00D60000000003010203", "0CB000000D9701048E08ED6705417E96BA5500", "9000", "61"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseResponse(b)
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatalf("parsed command does not encode: %v", err)
		}
		c2, err := ParseCommand(enc)
		if err != nil || c2.INS != c.INS || !bytes.Equal(c2.Data, c.Data) || c2.Ne != c.Ne {
			t.Fatalf("re-encoding changed the command: %X -> %X", b, enc)
		}
	})
}
