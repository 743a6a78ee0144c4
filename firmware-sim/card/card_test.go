package card

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"testing"
	"time"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func swOf(r []byte) uint16 { return uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1]) }

func TestLifeCycleAndAccessConditions(t *testing.T) {
	c := New()
	steps := []struct {
		apdu string
		sw   uint16
	}{
		{"00A4040C07A0000002471001", swOK},
		{"00E000000663040004011E", swOK},        // CREATE FILE 011E, 4 bytes
		{"00A4020C02011E", swOK},                // SELECT
		{"00D600000460025F01", swOK},            // UPDATE BINARY
		{"00D60002036001020304", swWrongLength}, // Lc 3 but 4 data bytes: malformed
		{"00D600020401020304", swNoSpace},       // past the end of the file
		{"00B0000004", swSecurity},              // reading needs access control, even before lock
		{"00DADEAD", swConditions},              // no access key yet: refuse to lock
		{"00DA00620F620D0403414243040639303031303104", swWrongData},
		{"00DA0062176215040341424304063930303130310406333030313031", swOK},
		{"00DADEAD", swOK},                       // lock
		{"00E000000663040004010D", swConditions}, // locked: no more files
		{"00A4040C07A0000002471001", swOK},
		{"00A4020C02011E", swSecurity}, // plain SELECT on a locked card
		{"0CB0000004", swSMMissing},    // SM without a session
		{"0084000008", swOK},           // GET CHALLENGE
		{"00820000280000", swWrongLength},
	}
	for i, s := range steps {
		r := c.Process(hx(s.apdu))
		if swOf(r) != s.sw {
			t.Fatalf("step %d %s: SW %04X, want %04X", i, s.apdu, swOf(r), s.sw)
		}
	}
	if !c.Locked() {
		t.Fatal("not locked")
	}
}

func TestParseCmdCases(t *testing.T) {
	for _, tc := range []struct {
		in  string
		ok  bool
		nc  int
		ne  int
		ext bool
	}{
		{"00B0", false, 0, 0, false},
		{"00B00000", true, 0, 0, false},
		{"00B0000000", true, 0, 256, false},
		{"00B00000000000", true, 0, 65536, true},
		{"00D6000000000101", true, 1, 0, true},
		{"00D60000000001010100", true, 1, 256, true},
		{"00D600000201", false, 0, 0, false},
	} {
		c, ok := parseCmd(hx(tc.in))
		if ok != tc.ok || ok && (len(c.data) != tc.nc || c.ne != tc.ne || c.ext != tc.ext) {
			t.Errorf("%s: %+v %v", tc.in, c, ok)
		}
	}
}

// fakeVPCD plays vpcd's side of the socket: length-prefixed frames.
type fakeVPCD struct{ conn net.Conn }

func (f fakeVPCD) send(t *testing.T, b []byte) {
	t.Helper()
	// Like Debian's vpcd: length and payload in separate writes.
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(b)))
	if _, err := f.conn.Write(l[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.conn.Write(b); err != nil {
		t.Fatal(err)
	}
}

func (f fakeVPCD) recv(t *testing.T) []byte {
	t.Helper()
	f.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var l [2]byte
	if _, err := io.ReadFull(f.conn, l[:]); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(f.conn, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVPCDLink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Insert(ctx, ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v := fakeVPCD{conn}
	v.send(t, []byte{ctlPowerOn})
	v.send(t, []byte{ctlATR})
	if got := v.recv(t); string(got) != string(ATR) {
		t.Fatalf("ATR % X", got)
	}
	v.send(t, hx("00A4040C07A0000002471001"))
	if got := v.recv(t); swOf(got) != swOK {
		t.Fatalf("SELECT % X", got)
	}
	// Pull the card on the second APDU from now: it must hang up unanswered.
	c.SetFaults(Faults{PullAfter: 2})
	v.send(t, hx("00A4040C07A0000002471001"))
	v.recv(t)
	v.send(t, hx("00A4040C07A0000002471001"))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("pulled card: read %v, want EOF", err)
	}
	<-c.Done()
	if c.APDUs() != 2 {
		t.Fatalf("%d APDUs processed, want 2", c.APDUs())
	}
}

// FuzzProcess sends arbitrary APDUs to blank, locked and in-session cards:
// the applet must answer with at least a status word and never panic.
func FuzzProcess(f *testing.F) {
	for _, s := range []string{"00A4040C07A0000002471001", "00E000000663040004011E", "00D600000460025F01",
		"00DA0062176215040341424304063930303130310406333030313031", "00DADEAD", "0084000008", "0CB000000D9701048E08ED6705417E96BA5500",
		"0022C1A40F800A04007F00070202040202830102", "10860000027C0000", "00B09C0000", "00B000000000FF"} {
		f.Add(hx(s))
	}
	f.Fuzz(func(t *testing.T, apdu []byte) {
		blank := New()
		personal := NewPersonalized(Profile{Files: map[uint16][]byte{0x011E: {0x60, 0}, fidCardAcc: hx("3012060A04007F0007020204020202010202010D")},
			DocumentNumber: "X", BirthDate: "000101", ExpiryDate: "300101", CAN: "1", Locked: true})
		for _, c := range []*Card{blank, personal} {
			c.Process(hx("00A4040C07A0000002471001"))
			if c == personal { // a secure-messaging session, so protected APDUs reach the SM decoder
				c.sm = newSession(smAES128, make([]byte, 16), make([]byte, 16), make([]byte, 16))
			}
			if r := c.Process(apdu); len(r) < 2 {
				t.Fatalf("answer % X without status word", r)
			}
		}
	})
}
