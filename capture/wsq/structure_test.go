package wsq

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"math"
	"strconv"
	"strings"
	"testing"
)

// seg is one marker segment of a WSQ stream as the tests see it; for SOB,
// data holds the entropy-coded bytes that follow the header.
type seg struct {
	marker int
	body   []byte
	data   []byte
}

// walkSegments splits a stream into segments with its own minimal parser,
// independent of the decoder.
func walkSegments(t *testing.T, b []byte) []seg {
	t.Helper()
	var segs []seg
	i := 0
	for i+2 <= len(b) {
		if b[i] != 0xFF {
			t.Fatalf("byte %d: want a marker, got %02X", i, b[i])
		}
		m := int(b[i])<<8 | int(b[i+1])
		i += 2
		if m == markerSOI || m == markerEOI {
			segs = append(segs, seg{marker: m})
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i:]))
		s := seg{marker: m, body: b[i+2 : i+n]}
		i += n
		if m == markerSOB {
			j := i
			for j+1 < len(b) && !(b[j] == 0xFF && b[j+1] != 0 && (b[j+1] < 0xB0 || b[j+1] > 0xB7)) {
				j++
			}
			s.data = b[i:j]
			i = j
		}
		segs = append(segs, s)
	}
	return segs
}

func markerName(m int) string {
	names := map[int]string{markerSOI: "SOI", markerEOI: "EOI", markerSOF: "SOF", markerSOB: "SOB",
		markerDTT: "DTT", markerDQT: "DQT", markerDHT: "DHT", markerDRT: "DRT", markerCOM: "COM"}
	if n, ok := names[m]; ok {
		return n
	}
	return "?"
}

func encodeRidges(t *testing.T, w, h int, rate float64) ([]byte, []byte) {
	t.Helper()
	img := ridgeImage(w, h, 3)
	data, err := Encode(img, 500, rate)
	if err != nil {
		t.Fatal(err)
	}
	return data, img.Pix
}

func TestMarkerOrder(t *testing.T) {
	data, _ := encodeRidges(t, 200, 240, DefaultBitrate)
	var names []string
	for _, s := range walkSegments(t, data) {
		names = append(names, markerName(s.marker))
	}
	got := strings.Join(names, " ")
	want := "SOI COM DTT DQT SOF DHT SOB DHT SOB SOB EOI"
	if got != want {
		t.Errorf("marker order:\n got %s\nwant %s", got, want)
	}
}

func TestNistcomCarriesPPI(t *testing.T) {
	img := ridgeImage(64, 80, 1)
	for _, ppi := range []int{500, 1000, 0} {
		data, err := Encode(img, ppi, DefaultBitrate)
		if err != nil {
			t.Fatal(err)
		}
		com := walkSegments(t, data)[1]
		if com.marker != markerCOM || !bytes.HasPrefix(com.body, []byte("NIST_COM ")) {
			t.Fatalf("second segment is %s %q, want a NISTCOM comment", markerName(com.marker), com.body)
		}
		wantLine := "PPI -1\n"
		if ppi > 0 {
			wantLine = "PPI " + strconv.Itoa(ppi) + "\n"
		}
		if !strings.Contains(string(com.body), wantLine) || !strings.Contains(string(com.body), "PIX_WIDTH 64\nPIX_HEIGHT 80\n") {
			t.Errorf("NISTCOM = %q, want %q and the size", com.body, wantLine)
		}
		_, gotPPI, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if gotPPI != max(ppi, 0) {
			t.Errorf("decoded ppi %d, want %d", gotPPI, max(ppi, 0))
		}
		cfg, err := DecodeConfig(data)
		if err != nil || cfg.Width != 64 || cfg.Height != 80 || cfg.PPI != max(ppi, 0) {
			t.Errorf("DecodeConfig = %+v, %v", cfg, err)
		}
	}
}

// The DTT must list the 9/7 analysis filters of the specification: the
// centre and one side of the 9-tap lowpass, then of the 7-tap highpass.
func TestDTTHoldsSpecFilters(t *testing.T) {
	data, _ := encodeRidges(t, 64, 64, DefaultBitrate)
	var dtt []byte
	for _, s := range walkSegments(t, data) {
		if s.marker == markerDTT {
			dtt = s.body
		}
	}
	// Values as printed in the spec's transform table.
	want := []float64{
		0.852698679009403, 0.377402855612654, -0.110624404418423, -0.023849465019380, 0.037828455506995,
		0.788485616405664, -0.418092273222212, -0.040689417609558, 0.064538882628938,
	}
	if len(dtt) != 2+6*len(want) || dtt[0] != 9 || dtt[1] != 7 {
		t.Fatalf("DTT body %d bytes, lengths %d/%d; want %d bytes for 9 and 7 taps", len(dtt), dtt[0], dtt[1], 2+6*len(want))
	}
	for i, w := range want {
		b := dtt[2+6*i:]
		v := float64(binary.BigEndian.Uint32(b[2:])) / math.Pow(10, float64(b[1]))
		if b[0] == 1 {
			v = -v
		} else if b[0] != 0 {
			t.Errorf("coefficient %d: sign byte %d", i, b[0])
		}
		if math.Abs(v-w) > 1e-9 {
			t.Errorf("coefficient %d = %.15f, want %.15f", i, v, w)
		}
	}
}

// The filter pair must be biorthogonal with the normalisation the spec
// uses: lowpass sums to √2, highpass to 0.
func TestSpecFilterNormalisation(t *testing.T) {
	sum := func(h []float64) float64 {
		s := h[0]
		for _, v := range h[1:] {
			s += 2 * v
		}
		return s
	}
	if s := sum(specLowpass); math.Abs(s-math.Sqrt2) > 1e-12 {
		t.Errorf("lowpass sums to %v, want √2", s)
	}
	if s := sum(specHighpass); math.Abs(s) > 1e-12 {
		t.Errorf("highpass sums to %v, want 0", s)
	}
}

// readDQT decodes a DQT body with the test's own reading of §B.2.4.
func readDQT(t *testing.T, body []byte) (c float64, q, z [64]float64) {
	t.Helper()
	val := func(b []byte) float64 {
		return float64(binary.BigEndian.Uint16(b[1:])) / math.Pow(10, float64(b[0]))
	}
	if len(body) != 3+64*6 {
		t.Fatalf("DQT body %d bytes", len(body))
	}
	c = val(body)
	for k := 0; k < 64; k++ {
		q[k] = val(body[3+6*k:])
		z[k] = val(body[6+6*k:])
	}
	return
}

// The DQT must carry C = 0.44 and Z_k = 1.2 Q_k; subbands 60-63 are never
// coded; and the coefficients in the stream must be exactly the
// dead-zone quantization of the transform with those Q and Z.
func TestDQTConsistentWithQuantizer(t *testing.T) {
	const w, h = 160, 192
	img := ridgeImage(w, h, 5)
	data, err := Encode(img, 500, DefaultBitrate)
	if err != nil {
		t.Fatal(err)
	}
	var dqt []byte
	for _, s := range walkSegments(t, data) {
		if s.marker == markerDQT {
			dqt = s.body
		}
	}
	c, q, z := readDQT(t, dqt)
	if c != 0.44 {
		t.Errorf("C = %v, want 0.44", c)
	}
	coded := 0
	for k := 0; k < 64; k++ {
		if k >= 60 && (q[k] != 0 || z[k] != 0) {
			t.Errorf("subband %d: Q=%v Z=%v, want 0 (never transmitted)", k, q[k], z[k])
		}
		if q[k] == 0 {
			continue
		}
		coded++
		if math.Abs(z[k]-1.2*q[k]) > 1e-4*z[k] {
			t.Errorf("subband %d: Z=%v, want 1.2·Q = %v", k, z[k], 1.2*q[k])
		}
	}
	if coded < 40 {
		t.Errorf("only %d subbands coded", coded)
	}

	// The stream's coefficients, decoded, against an independent
	// quantization of the encoder's transform (float64 here).
	d := &decoder{data: data}
	if err := d.parse(false); err != nil {
		t.Fatal(err)
	}
	idx := make(map[int]int32, len(d.nzPos))
	for i, p := range d.nzPos {
		idx[int(p)] = d.nzVal[i]
	}
	plane := make([]float32, w*h)
	m, r := float32(d.frame.shift), float32(d.frame.scale)
	for i, p := range img.Pix {
		plane[i] = (float32(p) - m) * (1 / r)
	}
	g := newGeometry(w, h)
	newTransformer(specFilters, plane, nil, w, h).forward(g)
	pos, mismatches, nonzero := 0, 0, 0
	for k := 0; k < numSubbands; k++ {
		if q[k] == 0 {
			continue
		}
		b := g.bands[k]
		for y := b.y; y < b.y+b.h; y++ {
			for x := b.x; x < b.x+b.w; x++ {
				v := float64(plane[y*w+x])
				var want int32
				if a := math.Abs(v); a > z[k]/2 {
					want = int32(math.Floor((a-z[k]/2)/q[k])) + 1
					if v < 0 {
						want = -want
					}
				}
				if want != 0 {
					nonzero++
				}
				if idx[pos] != want {
					// Allow float32/float64 disagreement right on a bin edge.
					f := (math.Abs(v) - z[k]/2) / q[k]
					if math.Abs(f-math.Round(f)) > 1e-3 {
						mismatches++
					}
				}
				pos++
			}
		}
	}
	if pos != d.total {
		t.Fatalf("coded subbands hold %d coefficients, decoder expected %d", pos, d.total)
	}
	if mismatches > 0 || nonzero == 0 {
		t.Errorf("%d coefficients differ from the quantizer (of %d, %d nonzero)", mismatches, pos, nonzero)
	}
}

// The bit allocation must meet the spec's rate equation: over the subbands
// K with a positive rate (Q_k < 5σ_k), sum m_k·log2(5σ_k/Q_k) = r.
func TestBitAllocationMeetsRate(t *testing.T) {
	const w, h = 416, 560
	img := ridgeImage(w, h, 9)
	plane := make([]float32, w*h)
	for i, p := range img.Pix {
		plane[i] = (float32(p) - 128) / 1.2
	}
	g := newGeometry(w, h)
	newTransformer(specFilters, plane, nil, w, h).forward(g)
	v := variances(plane, g)
	for _, r := range []float64{0.75, 2.25} {
		Q := binWidths(v, r)
		var rate float64
		for k := range Q {
			if v[k] < varianceThreshold {
				if Q[k] != 0 {
					t.Errorf("subband %d has variance %v < 1.01 but Q=%v", k, v[k], Q[k])
				}
				continue
			}
			s := math.Sqrt(v[k])
			if Q[k] < 5*s {
				rate += subbandShare(k) * math.Log2(5*s/Q[k])
			}
		}
		if math.Abs(rate-r) > 1e-9 {
			t.Errorf("target %v bpp: allocation sums to %v", r, rate)
		}
	}
}

// Subbands must tile the plane (with the discarded subbands 60-63 as the
// bottom-right quarter), and their sizes follow from halving with the
// lowpass half taking the odd sample.
func TestGeometry(t *testing.T) {
	for _, sz := range [][2]int{{416, 560}, {800, 750}, {65, 33}, {7, 5}} {
		w, h := sz[0], sz[1]
		g := newGeometry(w, h)
		cover := make([]int, w*h)
		mark := func(r rect) {
			for y := r.y; y < r.y+r.h; y++ {
				for x := r.x; x < r.x+r.w; x++ {
					cover[y*w+x]++
				}
			}
		}
		for _, b := range g.bands {
			mark(b)
		}
		mark(rect{(w + 1) / 2, (h + 1) / 2, w / 2, h / 2})
		for i, c := range cover {
			if c != 1 {
				t.Fatalf("%dx%d: pixel (%d,%d) covered %d times", w, h, i%w, i/w, c)
			}
		}
	}
	// 416x560: subband 0 is the lowpass of five halvings in each direction.
	g := newGeometry(416, 560)
	half := func(n, times int) int {
		for range times {
			n = (n + 1) / 2
		}
		return n
	}
	if b := g.bands[0]; b != (rect{0, 0, half(416, 5), half(560, 5)}) {
		t.Errorf("subband 0 = %+v, want 13x18 at the origin", b)
	}
	// Subband 51 is the diagonal band of the second level.
	if b := g.bands[51]; b != (rect{104, 140, 104, 140}) {
		t.Errorf("subband 51 = %+v", b)
	}
	// Subband 52 is the first band inside the first level's HL quarter,
	// which is spectrally inverted along x.
	if b := g.bands[52]; b.x != 208 || b.y != 0 || b.w != 104 || b.h != 140 {
		t.Errorf("subband 52 = %+v", b)
	}
}

func TestEncodeRejectsBadInput(t *testing.T) {
	img := ridgeImage(32, 32, 1)
	for _, rate := range []float64{0, -1, 9, math.NaN()} {
		if _, err := Encode(img, 500, rate); err == nil {
			t.Errorf("bit rate %v accepted", rate)
		}
	}
	if _, err := Encode(nil, 500, 0.75); err == nil {
		t.Error("nil image accepted")
	}
}

func TestConstantImage(t *testing.T) {
	img := ridgeImage(40, 30, 1)
	for i := range img.Pix {
		img.Pix[i] = 77
	}
	data, err := Encode(img, 500, DefaultBitrate)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Pix, img.Pix) {
		t.Errorf("constant image not reproduced: %v...", out.Pix[:8])
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := encodeRidges(t, 64, 64, DefaultBitrate)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":     {nil, "not a WSQ stream"},
		"not wsq":   {[]byte("\x89PNG\r\n\x1a\n"), "not a WSQ stream"},
		"truncated": {good[:len(good)/2], ""},
		"no eoi":    {good[:len(good)-2], ""},
		"huge frame": {append([]byte{0xFF, 0xA0, 0xFF, 0xA2, 0, 17, 0, 255, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 100, 0, 0, 1, 0, 0, 0}, 0xFF, 0xA1),
			"at most"},
		"mixed filters": {[]byte{0xFF, 0xA0, 0xFF, 0xA4, 0, 4, 9, 8, 0xFF, 0xA1}, "both must be odd"},
	}
	for name, c := range cases {
		_, _, err := Decode(c.data)
		if err == nil {
			t.Errorf("%s: decoded without error", name)
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v is not a *FormatError", name, err)
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
}

// A sub-image (non-zero origin, stride wider than the width) must encode
// exactly like a copy of its pixels.
func TestEncodeSubImage(t *testing.T) {
	big := ridgeImage(200, 150, 4)
	sub := big.SubImage(image.Rect(37, 21, 37+120, 21+100)).(*image.Gray)
	cp := image.NewGray(image.Rect(0, 0, 120, 100))
	for y := 0; y < 100; y++ {
		copy(cp.Pix[y*120:(y+1)*120], big.Pix[(21+y)*big.Stride+37:])
	}
	a, err := Encode(sub, 500, DefaultBitrate)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(cp, 500, DefaultBitrate)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("sub-image encodes differently from a copy of its pixels")
	}
}

// Extreme but valid inputs: a one-pixel image, odd tiny sizes, the
// highest rate, a pure-noise image.
func TestEdgeCases(t *testing.T) {
	for _, sz := range [][2]int{{1, 1}, {1, 9}, {3, 2}, {17, 5}} {
		img := ridgeImage(sz[0], sz[1], 6)
		data, err := Encode(img, 500, DefaultBitrate)
		if err != nil {
			t.Fatalf("%v: %v", sz, err)
		}
		out, _, err := Decode(data)
		if err != nil {
			t.Fatalf("%v: %v", sz, err)
		}
		if out.Rect.Dx() != sz[0] || out.Rect.Dy() != sz[1] {
			t.Errorf("%v decoded as %v", sz, out.Rect)
		}
	}
	noise := ridgeImage(64, 64, 1)
	rng := uint32(1)
	for i := range noise.Pix {
		rng = rng*1664525 + 1013904223
		noise.Pix[i] = byte(rng >> 24)
	}
	for _, rate := range []float64{0.1, 8} {
		data, err := Encode(noise, 500, rate)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("noise at %v bpp: %d bytes, PSNR %.2f dB", rate, len(data), psnr(noise, out))
	}
}

// Encode and Decode share no state between calls beyond buffer pools.
func TestConcurrentUse(t *testing.T) {
	img := ridgeImage(120, 140, 2)
	want, err := Encode(img, 500, DefaultBitrate)
	if err != nil {
		t.Fatal(err)
	}
	wantImg, _, _ := Decode(want)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 5 {
				got, err := Encode(img, 500, DefaultBitrate)
				if err != nil || !bytes.Equal(got, want) {
					errs <- errors.New("concurrent Encode gave different bytes")
					return
				}
				out, _, err := Decode(got)
				if err != nil || !bytes.Equal(out.Pix, wantImg.Pix) {
					errs <- errors.New("concurrent Decode gave a different image")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
