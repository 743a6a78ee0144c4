package hid

import (
	"encoding/binary"
	"testing"
)

func seedBlock(seq uint32, n int) []byte {
	b := make([]byte, SlapReportSize)
	b[0] = RepImageBlock
	binary.BigEndian.PutUint32(b[3:], seq)
	b[7] = byte(n)
	for i := range n {
		b[8+i] = byte(i * 7)
	}
	binary.BigEndian.PutUint16(b[62:], crc16(b[:62]))
	return b
}

// FuzzDecodeSlapReport: no input report, however damaged, panics the
// decoder; what it accepts is self-consistent.
func FuzzDecodeSlapReport(f *testing.F) {
	id := make([]byte, SlapReportSize)
	id[0], id[2] = RepIdentity, SlapProtoVersion
	binary.BigEndian.PutUint16(id[3:], 1000)
	binary.BigEndian.PutUint16(id[5:], 500)
	binary.BigEndian.PutUint16(id[7:], 1600)
	binary.BigEndian.PutUint16(id[9:], 1500)
	copy(id[15:], "fw 1.0")
	begin := make([]byte, SlapReportSize)
	begin[0] = RepImageBegin
	binary.BigEndian.PutUint16(begin[3:], 1600)
	binary.BigEndian.PutUint16(begin[5:], 1500)
	binary.BigEndian.PutUint16(begin[7:], 500)
	binary.BigEndian.PutUint32(begin[9:], (1600*1500+SlapBlockData-1)/SlapBlockData)
	errRep := make([]byte, SlapReportSize)
	errRep[0], errRep[2] = RepError, StatusTimeout
	copy(errRep[5:], "no fingers\x01\xff")
	for _, s := range [][]byte{id, begin, errRep, seedBlock(5, SlapBlockData), seedBlock(9, 3),
		{RepAck, 1, RepArm, 0}, {RepPresence, 0, 1, 0x0F, 1}, {}, {0x99}} {
		b := make([]byte, SlapReportSize)
		copy(b, s)
		if len(s) == 0 || len(s) == SlapReportSize {
			b = s
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeSlapReport(b)
		if err != nil {
			if r.Data != nil && r.ID == RepImageBlock {
				t.Fatal("a rejected block carries data")
			}
			return
		}
		switch r.ID {
		case RepImageBlock:
			if len(r.Data) == 0 || len(r.Data) > SlapBlockData {
				t.Fatalf("accepted block with %d bytes", len(r.Data))
			}
		case RepImageBegin:
			if int(r.Width)*int(r.Height) == 0 {
				t.Fatal("accepted empty image")
			}
		}
		for _, c := range r.Firmware + r.Text {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("unprintable %q passed to logs", c)
			}
		}
	})
}

// FuzzParseDescriptor: the virtual transport's descriptor record never
// panics its parser.
func FuzzParseDescriptor(f *testing.F) {
	good := make([]byte, vhidDescSize)
	copy(good, vhidMagic)
	good[4] = vhidVersion
	binary.BigEndian.PutUint16(good[5:], 64)
	good[17] = 2
	copy(good[18:], "S1")
	f.Add(good)
	bad := append([]byte(nil), good...)
	bad[17] = 200
	f.Add(bad)
	f.Add([]byte("VHID"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDescriptor(b)
		if err == nil && (d.ReportSize < 2 || d.ReportSize > vhidMaxReport) {
			t.Fatalf("accepted report size %d", d.ReportSize)
		}
	})
}

func TestDecodeSlapReportErrors(t *testing.T) {
	b := seedBlock(3, 10)
	b[20] ^= 1
	if _, err := DecodeSlapReport(b); err == nil {
		t.Fatal("corrupted block accepted")
	}
	b = seedBlock(3, 10)
	if r, err := DecodeSlapReport(b); err != nil || r.Seq != 3 || len(r.Data) != 10 {
		t.Fatalf("good block: %+v %v", r, err)
	}
	if _, err := DecodeSlapReport(make([]byte, 10)); err == nil {
		t.Fatal("short report accepted")
	}
	u := make([]byte, SlapReportSize)
	u[0] = 0x42
	if _, err := DecodeSlapReport(u); err == nil {
		t.Fatal("unknown report ID accepted")
	}
}
