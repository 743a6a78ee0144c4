package wsq

import (
	"math/rand/v2"
	"testing"
)

// expand undoes the run-length categories (spec Table B.1) with the
// test's own reading of them.
func expand(t *testing.T, syms []symbol) []int32 {
	t.Helper()
	var out []int32
	for _, s := range syms {
		switch v := int(s.sym); {
		case v >= 1 && v <= 100:
			out = append(out, make([]int32, v)...)
		case v == 105 || v == 106:
			if s.nbits != uint8(8*(v-104)) {
				t.Fatalf("run escape %d with %d extra bits", v, s.nbits)
			}
			out = append(out, make([]int32, s.extra)...)
		case v == 101 || v == 103:
			out = append(out, int32(s.extra))
		case v == 102 || v == 104:
			out = append(out, -int32(s.extra))
		case v >= 107 && v <= 254:
			out = append(out, int32(v-180))
		default:
			t.Fatalf("symbol %d is not a WSQ category", v)
		}
	}
	return out
}

func TestRunLengthCategories(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var in []int32
	for _, run := range []int{1, 100, 101, 255, 256, 65535, 65536, 200000} {
		in = append(in, make([]int32, run)...)
		in = append(in, int32(rng.IntN(2000)-1000))
	}
	for _, v := range []int32{73, -73, 74, -74, 255, -255, 256, -256, 65535, -65535} {
		in = append(in, v, 0)
	}
	var rc runCoder
	for _, p := range in {
		rc.add(p)
	}
	syms := rc.finish()
	got := expand(t, syms)
	if len(got) != len(in) {
		t.Fatalf("%d coefficients back, want %d", len(got), len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Fatalf("coefficient %d = %d, want %d", i, got[i], in[i])
		}
	}
	for _, s := range syms {
		if s.sym == 0 || s.sym > 254 || (s.sym >= 107 && (int(s.sym)-180 > directMax || int(s.sym)-180 < -directMax)) {
			t.Errorf("symbol %d outside the categories this encoder uses", s.sym)
		}
	}
}

// Every DHT the encoder writes must be a canonical code of at most 16
// bits over WSQ categories only, leaving the all-ones code free (so the
// 1-bit padding at the end of a block never decodes as a symbol).
func TestDHTTables(t *testing.T) {
	data, _ := encodeRidges(t, 300, 260, DefaultBitrate)
	n := 0
	for _, s := range walkSegments(t, data) {
		if s.marker != markerDHT {
			continue
		}
		n++
		b := s.body
		if b[0] > 1 {
			t.Errorf("table id %d; the encoder uses 0 and 1", b[0])
		}
		total := 0
		kraft := 0.0
		for l := 1; l <= 16; l++ {
			total += int(b[l])
			kraft += float64(b[l]) / float64(uint(1)<<l)
		}
		vals := b[17:]
		if len(vals) != total {
			t.Fatalf("table %d: %d codes, %d values", b[0], total, len(vals))
		}
		if kraft >= 1 {
			t.Errorf("table %d: Kraft sum %v, want < 1 (all-ones code reserved)", b[0], kraft)
		}
		seen := map[byte]bool{}
		for _, v := range vals {
			if v == 0 || v == 255 || seen[v] {
				t.Errorf("table %d: value %d invalid or repeated", b[0], v)
			}
			seen[v] = true
		}
	}
	if n != 2 {
		t.Errorf("%d DHT segments, want 2", n)
	}
}

// Skewed frequencies that would need codes longer than 16 bits must be
// limited to 16 bits and still decode.
func TestHuffmanLengthLimit(t *testing.T) {
	var freq [256]int
	f := 1
	for v := 1; v < 40; v++ {
		freq[v] = f
		f = f*3/2 + 1
	}
	hs := buildHuffSpec(&freq)
	for l := 17; l < len(hs.counts); l++ {
		if hs.counts[l] != 0 {
			t.Fatal("code longer than 16 bits")
		}
	}
	if len(hs.values) != 39 {
		t.Fatalf("%d values, want 39", len(hs.values))
	}
	dec, err := newHuffDecoder(&hs)
	if err != nil {
		t.Fatal(err)
	}
	codes := hs.encodeTable()
	var bw bitWriter
	for v := 1; v < 40; v++ {
		bw.write(codes[v].code, uint(codes[v].size))
	}
	bw.flush()
	br := bitReader{data: append(bw.out, 0xFF, 0xA1)}
	for v := 1; v < 40; v++ {
		sym, ok, err := br.decode(dec)
		if err != nil || !ok || sym != v {
			t.Fatalf("decoded %d (%v, %v), want %d", sym, ok, err, v)
		}
	}
	if _, ok, _ := br.decode(dec); ok || br.marker != markerEOI {
		t.Errorf("padding decoded as a symbol (marker %04X)", br.marker)
	}
}
