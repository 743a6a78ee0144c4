package iso19794

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleFinger() *FingerRecord {
	at := FromTime(time.Date(2026, 11, 27, 5, 6, 7, 891e6, time.UTC))
	r := &FingerRecord{}
	for i, pos := range []uint8{1, 2, 6} {
		r.Representations = append(r.Representations, FingerRepresentation{
			Captured: at, DeviceTechnology: 1, DeviceVendor: 0x1234, DeviceType: 0x0042,
			Quality:  []QualityBlock{{Score: uint8(70 + i), VendorID: 0x00FF, AlgorithmID: 7}},
			Position: pos, Number: uint8(i), ScaleUnits: ScalePPI, ScanH: 500, ScanV: 500, ImageH: 500, ImageV: 500,
			BitDepth: 8, Compression: FingerPNG, Impression: 0, Width: 416, Height: 560,
			Image: bytes.Repeat([]byte{byte(i + 1), 0xAB}, 50+i),
		})
	}
	return r
}

func sampleFace() *FaceRecord {
	return &FaceRecord{Representations: []FaceRepresentation{{
		Captured: FromTime(time.Date(2026, 11, 27, 5, 6, 7, 0, time.UTC)), DeviceTechnology: 2,
		Quality: []QualityBlock{{Score: 88, VendorID: 0x00FF, AlgorithmID: 9}},
		Gender:  0, EyeColour: 0, HairColour: 0, SubjectHeight: 0, PropertyMask: 0x000001, Expression: 1,
		Pose:          [3]uint8{0, 0, 0},
		FaceImageType: FaceTypeFullFrontal, ImageDataType: FaceJPEG, Width: 480, Height: 640,
		SpatialSamplingRateLevel: 0, PostAcquisition: 0, CrossReference: 0, ColourSpace: ColourRGB24,
		Image: []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9},
	}}}
}

func TestFingerRoundTripAndLayout(t *testing.T) {
	r := sampleFinger()
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseFinger(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, r)
	}
	// Layout, computed from the standard's tables, not from the encoder.
	if string(b[:8]) != "FIR\x00020\x00" {
		t.Errorf("header %q", b[:8])
	}
	if n := binary.BigEndian.Uint32(b[8:]); int(n) != len(b) {
		t.Errorf("record length %d, actual %d", n, len(b))
	}
	if n := binary.BigEndian.Uint16(b[12:]); n != 3 {
		t.Errorf("representations %d", n)
	}
	if b[14] != 0 || b[15] != 3 {
		t.Errorf("cert flag %d, positions %d", b[14], b[15])
	}
	rep := b[16:]
	replen := int(binary.BigEndian.Uint32(rep))
	if want := 42 + 4 + len(r.Representations[0].Image); replen != want {
		t.Errorf("representation length %d, want %d", replen, want)
	}
	if y := binary.BigEndian.Uint16(rep[4:]); y != 2026 || rep[6] != 11 || rep[7] != 27 || rep[8] != 5 {
		t.Errorf("date bytes % x", rep[4:13])
	}
	if ms := binary.BigEndian.Uint16(rep[11:]); ms != 891 {
		t.Errorf("milliseconds %d", ms)
	}
	if rep[18] != 1 || rep[19] != 70 || binary.BigEndian.Uint16(rep[20:]) != 0x00FF {
		t.Errorf("quality block % x", rep[18:24])
	}
	if rep[24] != 1 || rep[26] != ScalePPI || binary.BigEndian.Uint16(rep[27:]) != 500 {
		t.Errorf("position/scale/rate % x", rep[24:29])
	}
	if rep[35] != 8 || rep[36] != FingerPNG || binary.BigEndian.Uint16(rep[38:]) != 416 || binary.BigEndian.Uint16(rep[40:]) != 560 {
		t.Errorf("depth/compression/size % x", rep[35:42])
	}
	if il := binary.BigEndian.Uint32(rep[42:]); int(il) != len(r.Representations[0].Image) {
		t.Errorf("image length %d", il)
	}
	if !bytes.Equal(rep[46:replen], r.Representations[0].Image) {
		t.Errorf("image bytes misplaced")
	}
}

func TestFingerCertified(t *testing.T) {
	r := sampleFinger()
	r.Certified = true
	r.Representations[1].Certifications = []CertificationBlock{{AuthorityID: 0x0001, SchemeID: 1}}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseFinger(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatal("certified record does not round-trip")
	}
}

func TestFaceRoundTripAndLayout(t *testing.T) {
	r := sampleFace()
	r.Representations[0].Landmarks = []Landmark{{Type: 1, Code: 0x21, X: 100, Y: 200, Z: 0}}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseFace(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, r)
	}
	if string(b[:8]) != "FAC\x00030\x00" {
		t.Errorf("header %q", b[:8])
	}
	if n := binary.BigEndian.Uint32(b[8:]); int(n) != len(b) {
		t.Errorf("record length %d, actual %d", n, len(b))
	}
	rep := b[17:]
	// 4+9+1+2+2+1+5 = 24: landmark count; +17 facial info; +8 landmark; then image info.
	if n := binary.BigEndian.Uint16(rep[24:]); n != 1 {
		t.Errorf("landmark count %d", n)
	}
	if rep[30] != 0 || rep[31] != 0 || rep[32] != 1 {
		t.Errorf("property mask % x", rep[30:33])
	}
	info := rep[24+17+8:]
	if info[0] != FaceTypeFullFrontal || info[1] != FaceJPEG || binary.BigEndian.Uint16(info[2:]) != 480 || binary.BigEndian.Uint16(info[4:]) != 640 || info[10] != ColourRGB24 {
		t.Errorf("image information % x", info[:11])
	}
	if !bytes.Equal(info[11:], r.Representations[0].Image) {
		t.Errorf("image bytes misplaced")
	}
}

func TestMalformed(t *testing.T) {
	fb, _ := sampleFinger().Encode()
	ab, _ := sampleFace().Encode()
	mod := func(b []byte, off int, v ...byte) []byte {
		c := append([]byte{}, b...)
		copy(c[off:], v)
		return c
	}
	type tc struct {
		name  string
		parse func([]byte) error
		in    []byte
		want  []string
	}
	pf := func(b []byte) error { _, err := ParseFinger(b); return err }
	pa := func(b []byte) error { _, err := ParseFace(b); return err }
	cases := []tc{
		{"finger empty", pf, nil, []string{"general header", "format identifier"}},
		{"finger wrong id", pf, mod(fb, 0, 'F', 'A', 'C'), []string{"format identifier"}},
		{"finger old version", pf, mod(fb, 4, '0', '1', '0'), []string{"version", "020"}},
		{"finger truncated", pf, fb[:len(fb)-1], []string{"record length", "says"}},
		{"finger rep length too big", pf, mod(fb, 16, 0x7F), []string{"representation 1", "representation length"}},
		{"finger bad month", pf, mod(fb, 16+6, 13), []string{"representation 1", "capture date"}},
		{"finger bad quality", pf, mod(fb, 16+19, 180), []string{"quality score"}},
		{"finger bad compression", pf, mod(fb, 16+36, 9), []string{"compression algorithm", "offset 52"}},
		{"finger image length", pf, mod(fb, 16+42, 0x10), []string{"image data length"}},
		{"finger positions count", pf, mod(fb, 15, 5), []string{"number of finger positions"}},
		{"face wrong version", pa, mod(ab, 4, '0', '1', '0'), []string{"version"}},
		{"face cert flag", pa, mod(ab, 14, 1), []string{"certification flag"}},
		{"face landmarks overflow", pa, mod(ab, 17+24, 0x10, 0), []string{"representation 1", "landmark"}},
		{"face 3D type", pa, mod(ab, 17+41, 0x80), []string{"face image type"}},
		{"face data type", pa, mod(ab, 17+42, 7), []string{"image data type"}},
		{"face truncated", pa, ab[:40], []string{"record length"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.parse(c.in)
			if err == nil {
				t.Fatal("accepted")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T, want *ParseError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	r := sampleFinger()
	r.Representations[0].Compression = 9
	if _, err := r.Encode(); err == nil {
		t.Error("compression 9 accepted")
	}
	r = sampleFinger()
	r.Representations[0].Quality[0].Score = 101
	if _, err := r.Encode(); err == nil {
		t.Error("quality 101 accepted")
	}
	f := sampleFace()
	f.Representations[0].Image = nil
	if _, err := f.Encode(); err == nil {
		t.Error("empty face image accepted")
	}
	if _, err := (&FingerRecord{}).Encode(); err == nil {
		t.Error("record without representations accepted")
	}
}

func FuzzParseFinger(f *testing.F) {
	b, _ := sampleFinger().Encode()
	f.Add(b)
	r := sampleFinger()
	r.Certified = true
	r.Representations[0].Extended = []byte{0, 1, 0, 4}
	b2, _ := r.Encode()
	f.Add(b2)
	f.Add(b[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFinger(b)
		if err != nil {
			return
		}
		out, err := r.Encode()
		if err != nil {
			t.Fatalf("parsed record does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded record differs from input")
		}
	})
}

func FuzzParseFace(f *testing.F) {
	b, _ := sampleFace().Encode()
	f.Add(b)
	f.Add(b[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseFace(b)
		if err != nil {
			return
		}
		out, err := r.Encode()
		if err != nil {
			t.Fatalf("parsed record does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded record differs from input")
		}
	})
}
