package ansinist

import (
	"bytes"
	"errors"
	"image"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// binaryBlob returns data that contains every separator byte, so a parser
// that looks for separators inside field 999 instead of trusting LEN fails.
func binaryBlob(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)*7 + seed
	}
	copy(b, []byte{FS, GS, RS, US, '1', '4', '.', '0', '0', '1', ':'})
	return b
}

func sampleTransaction(t testing.TB) (*Transaction, Type1, Type2, Type10, []Type14) {
	return sampleTransactionSized(t, 300, 1000)
}

// sampleTransactionSized makes the sample with image data of the given
// sizes (small for fuzz seeds).
func sampleTransactionSized(t testing.TB, faceBytes, fingerBytes int) (*Transaction, Type1, Type2, Type10, []Type14) {
	t.Helper()
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	h := Type1{TOT: "ENR", Date: day, DAI: "CENTRAL", ORI: "BOOTH-7", TCN: "S-0001",
		NSR: PPMM(500), NTR: PPMM(500), GMT: time.Date(2026, 11, 27, 5, 6, 7, 0, time.UTC)}
	t2 := Type2{IDC: 0, Fields: []UserField{{Num: 3, Items: [][]string{{"APP-42"}}}, {Num: 7, Items: [][]string{{"3", "XX", "amputated"}, {"8", "UP", "bandaged"}}}}}
	t10 := Type10{IDC: 1, IMT: "FACE", SRC: "BOOTH-7", PHD: day, HLL: 480, VLL: 640, SLC: 1, THPS: 300, TVPS: 300,
		CGA: CompressionJPEGB, CSP: "YCC", SAP: SAPISOFullFront, Data: binaryBlob(faceBytes, 1)}
	var t14s []Type14
	for i, pos := range []int{1, 2} {
		t14s = append(t14s, Type14{IDC: 2 + i, IMP: ImpressionPlain, SRC: "BOOTH-7", FCD: day, HLL: 416, VLL: 560,
			SLC: ScalePPI, THPS: 500, TVPS: 500, CGA: CompressionPNG, BPX: 8, FGP: []int{pos},
			FQM:  []QualityMetric{{FGP: pos, Score: 80 + i, VendorID: 0x00FF, ProductCode: 7}},
			NQM:  []NISTQuality{{FGP: pos, Score: 2}},
			AMP:  nil,
			Data: binaryBlob(fingerBytes+i, byte(i))})
	}
	t14s[1].AMP = []Amputation{{FGP: 3, Code: AmputationAmputated}}
	tx := &Transaction{}
	add := func(r *Record, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		tx.Records = append(tx.Records, r)
	}
	add(h.Record())
	add(t2.Record())
	add(t10.Record())
	for _, v := range t14s {
		add(v.Record())
	}
	return tx, h, t2, t10, t14s
}

func TestRoundTrip(t *testing.T) {
	tx, h, t2, t10, t14s := sampleTransaction(t)
	b, err := tx.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	h.Version = Version2011
	h.Content = [][2]int{{2, 0}, {10, 1}, {14, 2}, {14, 3}}
	if !reflect.DeepEqual(d.Type1, h) {
		t.Errorf("Type-1:\n got %+v\nwant %+v", d.Type1, h)
	}
	if len(d.Type2) != 1 || !reflect.DeepEqual(d.Type2[0], t2) {
		t.Errorf("Type-2: got %+v want %+v", d.Type2, t2)
	}
	if len(d.Type10) != 1 || !reflect.DeepEqual(d.Type10[0], t10) {
		t.Errorf("Type-10 differs")
	}
	if !reflect.DeepEqual(d.Type14, t14s) {
		t.Errorf("Type-14: got %+v\nwant %+v", d.Type14, t14s)
	}
}

// TestLENAndLayout walks the encoded bytes independently of the parser:
// every record starts with its LEN tag, LEN is the record's exact byte
// length ending in FS, DATA is the last field, and tags are "T.NNN:".
func TestLENAndLayout(t *testing.T) {
	tx, _, _, _, _ := sampleTransaction(t)
	b, err := tx.Encode()
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []int{1, 2, 10, 14, 14}
	pos := 0
	for i, typ := range wantTypes {
		prefix := strconv.Itoa(typ) + ".001:"
		if !bytes.HasPrefix(b[pos:], []byte(prefix)) {
			t.Fatalf("record %d does not start with %q: %q", i, prefix, b[pos:pos+8])
		}
		gs := bytes.IndexByte(b[pos:], GS)
		n, err := strconv.Atoi(string(b[pos+len(prefix) : pos+gs]))
		if err != nil {
			t.Fatal(err)
		}
		rec := b[pos : pos+n]
		if rec[len(rec)-1] != FS {
			t.Fatalf("record %d: LEN %d does not end on FS", i, n)
		}
		if typ == 10 || typ == 14 {
			tag := []byte(strconv.Itoa(typ) + ".999:")
			at := bytes.Index(rec, tag)
			if at < 0 {
				t.Fatalf("record %d: no DATA field", i)
			}
			// No other tag may follow DATA: the data is what we put in.
			data := rec[at+len(tag) : len(rec)-1]
			if typ == 10 && !bytes.Equal(data, tx.Records[i].Fields[len(tx.Records[i].Fields)-1].Value) {
				t.Fatalf("record %d: DATA is not the last field", i)
			}
		}
		if typ == 1 {
			if !bytes.Contains(rec, []byte("1.002:0400\x1d")) {
				t.Errorf("Type-1 lacks VER 0400")
			}
			if !bytes.Contains(rec, []byte("1.011:19.69\x1d")) {
				t.Errorf("Type-1 lacks NSR 19.69 for 500 ppi")
			}
			cnt := "1.003:1\x1f4\x1e2\x1f0\x1e10\x1f1\x1e14\x1f2\x1e14\x1f3\x1d"
			if !bytes.Contains(rec, []byte(cnt)) {
				t.Errorf("CNT is not %q in %q", cnt, rec)
			}
		}
		pos += n
	}
	if pos != len(b) {
		t.Fatalf("%d bytes after the last record", len(b)-pos)
	}
}

func TestLENDigitBoundary(t *testing.T) {
	// Grow a Type-2 value across the 99/100 and 999/1000 byte boundaries:
	// LEN includes its own digits.
	for n := 80; n < 1010; n++ {
		r := &Record{Type: 2}
		r.Set(2, "0")
		r.Set(3, strings.Repeat("a", n))
		b, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		gs := bytes.IndexByte(b, GS)
		got, _ := strconv.Atoi(string(b[len("2.001:"):gs]))
		if got != len(b) {
			t.Fatalf("value %d bytes: LEN says %d, record is %d", n, got, len(b))
		}
	}
}

func TestMalformed(t *testing.T) {
	tx, _, _, _, _ := sampleTransaction(t)
	good, err := tx.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// offsets of records
	var starts []int
	for pos := 0; pos < len(good); {
		starts = append(starts, pos)
		colon := bytes.IndexByte(good[pos:], ':')
		gs := bytes.IndexByte(good[pos:], GS)
		n, _ := strconv.Atoi(string(good[pos+colon+1 : pos+gs]))
		pos += n
	}
	replaceFirst := func(b []byte, from int, old, new string) []byte {
		i := bytes.Index(b[from:], []byte(old))
		if i < 0 {
			t.Fatalf("%q not found", old)
		}
		out := append([]byte{}, b[:from+i]...)
		out = append(out, new...)
		return append(out, b[from+i+len(old):]...)
	}
	cases := []struct {
		name string
		in   []byte
		want []string // substrings of the error
	}{
		{"empty", nil, []string{"empty input"}},
		{"truncated", good[:len(good)-10], []string{"record 4 (Type-14)", "runs past the end"}},
		{"trailing garbage", append(append([]byte{}, good...), "2.001:9"...), []string{"record 5"}},
		{"no Type-1 first", good[starts[1]:], []string{"record 0", "must be Type-1"}},
		{"LEN one short", replaceFirst(good, starts[1], "2.001:"+strconv.Itoa(starts[2]-starts[1]), "2.001:"+strconv.Itoa(starts[2]-starts[1]-1)), []string{"record 1 (Type-2)", "field 2.001", "does not end on a FS"}},
		{"LEN too long", replaceFirst(good, starts[1], "2.001:"+strconv.Itoa(starts[2]-starts[1]), "2.001:"+strconv.Itoa(starts[2]-starts[1]+1)), []string{"record 1 (Type-2)", "field 2.001"}},
		{"CNT count wrong", replaceFirst(good, 0, "1.003:1\x1f4", "1.003:1\x1f5"), []string{"record 0 (Type-1) field 1.003"}},
		{"IDC mismatch", replaceFirst(good, starts[3], "14.002:2", "14.002:7"), []string{"record 3 (Type-14) field 14.002", "does not match CNT"}},
		{"tag of other type", replaceFirst(good, starts[2], "10.003:", "11.003:"), []string{"record 2 (Type-10)", "Type-11 inside"}},
		{"duplicate field", replaceFirst(good, starts[2], "10.004:", "10.003:"), []string{"field 10.003", "twice"}},
		{"binary type", []byte("4.001:10\x1d4.002:0\x1c"), []string{"not a supported tagged type"}},
		{"missing FGP", replaceFirst(good, starts[3], "14.013:1", "14.113:1"), []string{"record 3 (Type-14) field 14.013", "mandatory field missing"}},
		{"bad FQM vendor", replaceFirst(good, starts[3], "\x1f00FF\x1f", "\x1fZZFF\x1f"), []string{"field 14.024", "4 hex digits"}},
		{"bad HLL", replaceFirst(good, starts[2], "10.006:480", "10.006:4x0"), []string{"record 2 (Type-10) field 10.006"}},
		{"bad version", replaceFirst(good, 0, "1.002:0400", "1.002:0300"), []string{"field 1.002", "0400"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.in)
			if err == nil {
				t.Fatal("accepted malformed input")
			}
			var pe *ParseError
			var fe *FieldError
			if !errors.As(err, &pe) && !errors.As(err, &fe) {
				t.Errorf("error %T is neither ParseError nor FieldError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "offset") {
				t.Errorf("error %q lacks an offset", err)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := (Type1{TOT: "E\x1dN", Date: day, DAI: "a", ORI: "b", TCN: "c", NSR: "19.69", NTR: "19.69"}).Record(); err == nil {
		t.Error("separator in TOT accepted")
	}
	if _, err := (Type2{Fields: []UserField{{Num: 5, Items: [][]string{{"x\x1cy"}}}}}).Record(); err == nil {
		t.Error("separator in Type-2 accepted")
	}
	if _, err := (Type14{IDC: 1, SRC: "s", HLL: 1, VLL: 1, SLC: 1, THPS: 500, TVPS: 500, CGA: "GIF", BPX: 8, FGP: []int{1}, Data: []byte{1}}).Record(); err == nil {
		t.Error("unknown compression accepted")
	}
	if _, err := (Type14{IDC: 1, SRC: "s", HLL: 1, VLL: 1, SLC: 1, THPS: 500, TVPS: 500, CGA: "PNG", BPX: 8, FGP: []int{1}, Data: []byte{1},
		FQM: []QualityMetric{{FGP: 1, Score: 101, ProductCode: 1}}}).Record(); err == nil {
		t.Error("quality 101 accepted")
	}
	tx := &Transaction{Records: []*Record{{Type: 2}}}
	if _, err := tx.Encode(); err == nil {
		t.Error("transaction without Type-1 accepted")
	}
}

// slapTransaction is a header and one two-thumb slap (FGP 15) with each
// thumb's segment and quality.
func slapTransaction(t testing.TB) (*Transaction, Type14) {
	t.Helper()
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	h := Type1{TOT: "ENR", Date: day, DAI: "CENTRAL", ORI: "BOOTH-7", TCN: "S-0002", NSR: PPMM(500), NTR: PPMM(500)}
	slap := Type14{IDC: 1, IMP: ImpressionPlain, SRC: "BOOTH-7", FCD: day, HLL: 800, VLL: 750,
		SLC: ScalePPI, THPS: 500, TVPS: 500, CGA: CompressionPNG, BPX: 8, FGP: []int{15},
		SEG: []Segment{{FGP: 1, Left: 420, Right: 700, Top: 90, Bottom: 560}, {FGP: 6, Left: 60, Right: 350, Top: 100, Bottom: 749}},
		ASEG: []Outline{{FGP: 1, Points: []image.Point{{450, 90}, {700, 130}, {660, 560}, {420, 520}}},
			{FGP: 6, Points: []image.Point{{60, 100}, {350, 100}, {200, 749}}}},
		FQM:  []QualityMetric{{FGP: 1, Score: 71, VendorID: 0x00FF, ProductCode: 7}, {FGP: 6, Score: 64, VendorID: 0x00FF, ProductCode: 7}},
		Data: binaryBlob(64, 9)}
	tx := &Transaction{}
	for _, mk := range []func() (*Record, error){h.Record, slap.Record} {
		r, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		tx.Records = append(tx.Records, r)
	}
	return tx, slap
}

func TestSlapSegments(t *testing.T) {
	tx, slap := slapTransaction(t)
	b, err := tx.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "14.021:1\x1f420\x1f700\x1f90\x1f560\x1e6\x1f60\x1f350\x1f100\x1f749\x1d") {
		t.Errorf("SEG field (14.021) not laid out as the standard says in %q", b)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Type14) != 1 || !reflect.DeepEqual(d.Type14[0], slap) {
		t.Fatalf("slap: got %+v\nwant %+v", d.Type14, slap)
	}
	// A segment must name a single finger and lie inside the image.
	for name, g := range map[string]Segment{
		"slap position": {FGP: 13, Left: 1, Right: 2, Top: 1, Bottom: 2},
		"past the edge": {FGP: 1, Left: 420, Right: 800, Top: 90, Bottom: 560},
		"upside down":   {FGP: 1, Left: 420, Right: 700, Top: 560, Bottom: 90},
	} {
		bad := slap
		bad.SEG = []Segment{g}
		if _, err := bad.Record(); err == nil || !strings.Contains(err.Error(), "14.021") {
			t.Errorf("%s: %v, want a field 14.021 error", name, err)
		}
	}
	if !strings.Contains(string(b), "14.025:1\x1f4\x1f450\x1f90\x1f700\x1f130\x1f660\x1f560\x1f420\x1f520\x1e6\x1f3\x1f60\x1f100\x1f350\x1f100\x1f200\x1f749\x1d") {
		t.Errorf("ASEG field (14.025) not laid out as the standard says in %q", b)
	}
	for name, o := range map[string]Outline{
		"two points":     {FGP: 1, Points: []image.Point{{1, 1}, {2, 2}}},
		"point outside":  {FGP: 1, Points: []image.Point{{1, 1}, {800, 2}, {3, 3}}},
		"not one finger": {FGP: 15, Points: []image.Point{{1, 1}, {2, 2}, {3, 3}}},
	} {
		bad := slap
		bad.ASEG = []Outline{o}
		if _, err := bad.Record(); err == nil || !strings.Contains(err.Error(), "14.025") {
			t.Errorf("%s: %v, want a field 14.025 error", name, err)
		}
	}
	// And the decoder says where a bad one is.
	for name, c := range map[string]struct{ from, to, want string }{
		"four items":   {"\x1f100\x1f749", "\x1f1007749", "subfield 2 has 4 information items, want 5"},
		"not a number": {"1\x1f420", "1\x1f4x0", "not a number"},
		"outside":      {"\x1f100\x1f749\x1d", "\x1f100\x1f750\x1d", "rows 100-750 outside"},
		// The count says four points, the subfield holds three.
		"miscounted": {"\x1e6\x1f3\x1f60", "\x1e6\x1f4\x1f60", "counts 4 points but holds 3"},
		"odd items":  {"\x1f200\x1f749\x1d", "\x1f2007749\x1d", "want a finger, a count and 3-99 points"},
	} {
		mangled := strings.Replace(string(b), c.from, c.to, 1)
		if mangled == string(b) {
			t.Fatalf("%s: %q not found", name, c.from)
		}
		// (Every change keeps the length, so LEN still holds.)
		_, err := Decode([]byte(mangled))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "14.02") {
			t.Errorf("%s: %v, want %q at field 14.021 or 14.025", name, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	tx, _, _, _, _ := sampleTransactionSized(f, 12, 16)
	good, err := tx.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:200])
	big, _, _, _, _ := sampleTransaction(f)
	if b, err := big.Encode(); err == nil {
		f.Add(b)
	}
	if slaps, _ := slapTransaction(f); slaps != nil {
		if b, err := slaps.Encode(); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("1.001:30\x1d1.002:0400\x1d1.003:1\x1f0\x1c"))
	f.Add([]byte("1.001:9999999999\x1d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := Parse(b)
		if err != nil {
			return
		}
		_, _ = Decode(b)
		// What parses must re-encode and parse again to the same records.
		out, err := tx.Encode()
		if err != nil {
			t.Fatalf("parsed transaction does not re-encode: %v", err)
		}
		tx2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded transaction does not parse: %v", err)
		}
		if len(tx2.Records) != len(tx.Records) {
			t.Fatalf("record count changed %d -> %d", len(tx.Records), len(tx2.Records))
		}
	})
}

// BenchmarkANSINISTDecode parses and interprets a five-record transaction
// (Type-1, -2, -10 and two Type-14).
func BenchmarkANSINISTDecode(b *testing.B) {
	tx, _, _, _, _ := sampleTransaction(b)
	enc, err := tx.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
