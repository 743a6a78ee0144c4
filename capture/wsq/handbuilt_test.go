package wsq

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/wsq files from the hand-built streams")

const handBuiltFile = "../../testdata/wsq/handbuilt_64x64.wsq"

// handBuilt is a 64x64 WSQ stream written byte by byte from the structure
// the specification gives, not by this package's encoder. It uses what
// the spec allows and the encoder never writes: two Huffman tables in one
// DHT before the frame header, tables after the frame header, a DRT, a
// plain comment and a comment between blocks, filter coefficients all at
// decimal exponent 9, and a restart marker inside a block.
//
// Content: subband 0 (2x2 at the top left) holds bin index 5 four times;
// subbands 1-3 and 52 are coded but zero; every other subband has Q = 0.
// A constant lowpass band passes the 9/7 synthesis as a constant scaled by
// 1/√2 per axis and level (the synthesis lowpass polyphase sums are both
// 1/√2), so five levels give the coefficient /32 everywhere:
//
//	coefficient = (5 - C)·Q0 + Z0/2 = (5 - 0.44)·2.5 + 3.0/2 = 12.9
//	pixel       = M + R·12.9/32 = 100 + 2·0.403125 = 100.806 → 101
func handBuilt() []byte {
	var b []byte
	put := func(bs ...byte) { b = append(b, bs...) }
	seg := func(marker uint16, body ...byte) {
		n := len(body) + 2
		put(byte(marker>>8), byte(marker), byte(n>>8), byte(n))
		put(body...)
	}
	put(0xFF, 0xA0) // SOI
	seg(0xFFA8, []byte("hand-built WSQ test stream")...)

	// DHT with two tables. Table 0: one 1-bit code (symbol 185 = 180+5,
	// coefficient 5) and one 2-bit code (symbol 12: a run of 12 zeros).
	// Table 1: symbol 105 (8-bit run escape) at 1 bit, symbol 56 (run of
	// 56) at 2 bits. Codes are canonical: "0" then "10"; "11" is unused.
	dht := []byte{0}
	dht = append(dht, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	dht = append(dht, 185, 12)
	dht = append(dht, 1)
	dht = append(dht, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	dht = append(dht, 105, 56)
	seg(0xFFA6, dht...)

	// DTT: 9-tap lowpass and 7-tap highpass, centre first; each entry is
	// sign, decimal exponent, 32-bit magnitude: value = n / 10^9.
	dtt := []byte{9, 7}
	for _, c := range []struct {
		neg bool
		n   uint32
	}{
		{false, 852698679}, {false, 377402856}, {true, 110624404}, {true, 23849465}, {false, 37828456},
		{false, 788485616}, {true, 418092273}, {true, 40689418}, {false, 64538883},
	} {
		sign := byte(0)
		if c.neg {
			sign = 1
		}
		dtt = append(dtt, sign, 9, byte(c.n>>24), byte(c.n>>16), byte(c.n>>8), byte(c.n))
	}
	seg(0xFFA4, dtt...)

	// SOF: black 0, white 255, height 64, width 64, M = 100 (exponent 0),
	// R = 2 (exponent 0), encoder 0, software 0.
	seg(0xFFA2, 0, 255, 0, 64, 0, 64, 0, 0, 100, 0, 0, 2, 0, 0, 0)

	seg(0xFFA8, []byte("NIST_COM 2\nPPI 500\n")...)

	// DQT: C = 44/10^2; then Q_k, Z_k as (exponent, 16-bit value).
	dqt := []byte{2, 0, 44}
	for k := 0; k < 64; k++ {
		switch {
		case k == 0:
			dqt = append(dqt, 1, 0, 25, 1, 0, 30) // Q = 2.5, Z = 3.0
		case k <= 3 || k == 52:
			dqt = append(dqt, 0, 0, 1, 1, 0, 12) // Q = 1, Z = 1.2
		default:
			dqt = append(dqt, 0, 0, 0, 0, 0, 0)
		}
	}
	seg(0xFFA5, dqt...)
	seg(0xFFA7, 0, 1) // DRT: restart interval 1

	// Block 1, table 0: subband 0 (4 coefficients) then subbands 1-3 (12).
	// Bits: 0 0 0 0 (four times symbol 185), 10 (run of 12), padding 11.
	seg(0xFFA3, 0)
	put(0b00001011)
	seg(0xFFA8, []byte("between blocks")...)

	// Block 2, table 1: subband 52, 16x16 = 256 zeros. Bits: 0 (symbol
	// 105) 11001000 (run of 200), padding 1111111; RST0; then 10 (run of
	// 56), padding 111111.
	seg(0xFFA3, 1)
	put(0b01100100, 0b01111111)
	put(0xFF, 0xB0)
	put(0b10111111)
	put(0xFF, 0xA1) // EOI
	return b
}

func TestDecodeHandBuilt(t *testing.T) {
	data := handBuilt()
	if *update {
		if err := os.MkdirAll(filepath.Dir(handBuiltFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(handBuiltFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(handBuiltFile)
	if err != nil {
		t.Fatalf("%v (run go test -run HandBuilt -update to write it)", err)
	}
	if !bytes.Equal(file, data) {
		t.Fatalf("%s differs from the stream built in this test; rerun with -update", handBuiltFile)
	}
	img, ppi, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if ppi != 500 {
		t.Errorf("ppi %d, want 500", ppi)
	}
	if img.Rect.Dx() != 64 || img.Rect.Dy() != 64 {
		t.Fatalf("size %v, want 64x64", img.Rect)
	}
	for i, p := range img.Pix {
		if p != 101 {
			t.Fatalf("pixel (%d,%d) = %d, want 101 everywhere", i%64, i/64, p)
		}
	}

	// A coefficient count that does not match the subband layout must be
	// refused: drop the run of 12 (subbands 1-3) from block 1.
	bad := bytes.Replace(data, []byte{0xFF, 0xA3, 0, 3, 0, 0b00001011}, []byte{0xFF, 0xA3, 0, 3, 0, 0b00001111}, 1)
	if _, _, err := Decode(bad); err == nil {
		t.Error("stream with 4 of 272 coefficients decoded without error")
	}
}

// Reordering the encoder's segments the way the spec allows (all tables
// in one DHT before everything else, comments between blocks) must not
// change the decoded image.
func TestDecodeReorderedStream(t *testing.T) {
	data, _ := encodeRidges(t, 120, 100, DefaultBitrate)
	want, _, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	segs := walkSegments(t, data)
	var out []byte
	put := func(marker int, body []byte) {
		out = append(out, byte(marker>>8), byte(marker))
		if marker != markerSOI && marker != markerEOI {
			n := len(body) + 2
			out = append(out, byte(n>>8), byte(n))
			out = append(out, body...)
		}
	}
	var dht []byte
	for _, s := range segs {
		if s.marker == markerDHT {
			dht = append(dht, s.body...)
		}
	}
	put(markerSOI, nil)
	put(markerDHT, dht)
	for _, s := range segs {
		switch s.marker {
		case markerSOI, markerEOI, markerDHT:
		case markerSOB:
			put(markerCOM, []byte("block follows"))
			put(s.marker, s.body)
			out = append(out, s.data...)
		default:
			put(s.marker, s.body)
		}
	}
	put(markerEOI, nil)
	got, _, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Error("reordered stream decodes to a different image")
	}
}
