package camsim

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	xdraw "golang.org/x/image/draw"
)

func TestControlsEndpoint(t *testing.T) {
	p, err := LoadPerson(portrait, DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(Config{Width: 160, Height: 120, FPS: 10, Person: p, Controls: &Controls{Exposure: 25, Gain: 6, WhiteBalance: 3000, Focus: 40}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(resp *http.Response, err error) controlsReply {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s", resp.Status)
		}
		var r controlsReply
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := get(http.Get(srv.ControlsURL()))
	if r.Protocol != ControlsProtocol || r.Controls[CtlExposure].Value != 25 || r.Controls[CtlFocus].Default != DefaultFocusAt ||
		r.Controls[CtlWhiteBalance].Value != 3000 || r.Controls[CtlGain].Max != 24 {
		t.Fatalf("listing: %+v", r)
	}
	// Clamped to the range and rounded to the step, as a UVC camera does.
	r = get(http.Post(srv.ControlsURL(), "application/json", strings.NewReader(`{"exposure": 5000, "gain": 3.3, "white_balance": 4999}`)))
	if r.Controls[CtlExposure].Value != 2000 || r.Controls[CtlGain].Value != 3.5 || r.Controls[CtlWhiteBalance].Value != 5000 || r.Controls[CtlFocus].Value != 40 {
		t.Fatalf("after set: %+v", r.Controls)
	}
	if c := srv.Controls(); c.Exposure != 2000 || c.Gain != 3.5 {
		t.Fatalf("server controls %+v", c)
	}
	for _, bad := range []string{`{"iris": 3}`, `{"gain": "x"}`, `[1]`, `{"gain": 1} {}`, `{"focus": null}`, strings.Repeat(" ", 5000) + "{}"} {
		resp, err := http.Post(srv.ControlsURL(), "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%.20q: %s", bad, resp.Status)
		}
	}
	if c := srv.Controls(); c.Gain != 3.5 || c.Focus != 40 {
		t.Errorf("a refused request changed the controls: %+v", c)
	}
}

// stats of a rendered frame: mean of each channel, the noise (mean
// absolute difference of horizontally adjacent pixels in the flat
// backdrop's top-left corner) and the Laplacian variance of the centre.
type frameStats struct {
	R, G, B, Noise, Sharp float64
}

func measure(t *testing.T, jpg []byte) frameStats {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	luma := make([]float64, w*h)
	var s frameStats
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			s.R += float64(r) / 257
			s.G += float64(g) / 257
			s.B += float64(bb) / 257
			luma[y*w+x] = (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bb)) / 257
		}
	}
	n := float64(w * h)
	s.R, s.G, s.B = s.R/n, s.G/n, s.B/n
	var d float64
	cnt := 0
	for y := h / 8; y < h/4; y++ {
		for x := 1; x < w/8; x++ {
			d += math.Abs(luma[y*w+x] - luma[y*w+x-1])
			cnt++
		}
	}
	s.Noise = d / float64(cnt)
	var ls, lq float64
	cnt = 0
	for y := h / 4; y < 3*h/4; y++ {
		for x := w / 4; x < 3*w/4; x++ {
			i := y*w + x
			l := luma[i-1] + luma[i+1] + luma[i-w] + luma[i+w] - 4*luma[i]
			ls += l
			lq += l * l
			cnt++
		}
	}
	s.Sharp = lq/float64(cnt) - (ls/float64(cnt))*(ls/float64(cnt))
	return s
}

func TestControlsActPhysically(t *testing.T) {
	p, err := LoadPerson(portrait, DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(320, 240, p)
	if err != nil {
		t.Fatal(err)
	}
	scene := State{Present: true, Gain: 1}
	frame := func(c Controls) frameStats {
		b, err := r.FrameWith(scene, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return measure(t, b)
	}
	neutral := DefaultControls(DefaultSceneKelvin, DefaultFocusAt)
	plain, err := r.Frame(scene)
	if err != nil {
		t.Fatal(err)
	}
	plain = bytes.Clone(plain)
	same, _ := r.FrameWith(scene, neutral, nil)
	if !bytes.Equal(plain, same) {
		t.Error("neutral controls changed the picture")
	}
	base := frame(neutral)
	lum := func(s frameStats) float64 { return 0.299*s.R + 0.587*s.G + 0.114*s.B }

	half := neutral
	half.Exposure = 50
	if l := lum(frame(half)); math.Abs(l/lum(base)-0.5) > 0.05 {
		t.Errorf("half exposure: luma %.1f vs %.1f", l, lum(base))
	}
	// Half the exposure made up with 6 dB gain: as bright, grainier.
	boosted := half
	boosted.Gain = 6
	bs := frame(boosted)
	if math.Abs(lum(bs)/lum(base)-1) > 0.06 || bs.Noise < base.Noise+1.5 {
		t.Errorf("half exposure +6 dB: luma %.1f vs %.1f, noise %.2f vs %.2f", lum(bs), lum(base), bs.Noise, base.Noise)
	}
	// Balanced for tungsten under daylight lamps: blue; the other way red.
	cold := neutral
	cold.WhiteBalance = 3000
	cs := frame(cold)
	warm := neutral
	warm.WhiteBalance = 6500
	ws := frame(warm)
	rb := func(s frameStats) float64 { return (s.R / s.G) / (s.B / s.G) }
	if rb(cs) > 0.7*rb(base) || rb(ws) < 1.1*rb(base) {
		t.Errorf("white balance: cold R/G %.2f B/G %.2f, warm R/G %.2f B/G %.2f, neutral B/G %.2f",
			cs.R/cs.G, cs.B/cs.G, ws.R/ws.G, ws.B/ws.G, base.B/base.G)
	}
	// Sharpness falls steadily as the lens moves off the subject.
	prev := base.Sharp
	for _, off := range []float64{15, 40, 80} {
		c := neutral
		c.Focus = DefaultFocusAt - off
		s := frame(c)
		if s.Sharp >= 0.8*prev {
			t.Errorf("focus %v off: sharpness %.1f, nearer %.1f", off, s.Sharp, prev)
		}
		prev = s.Sharp
	}
	c := neutral
	c.Focus = DefaultFocusAt + depthOfField
	if s := frame(c); s.Sharp != base.Sharp {
		t.Errorf("within the depth of field: sharpness %.1f vs %.1f", s.Sharp, base.Sharp)
	}
}

func TestStampSurvivesJPEGAndScaling(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 0, 123e6, time.UTC)
	for _, w := range []int{640, 960, 321} {
		img := image.NewRGBA(image.Rect(0, 0, w, w*3/4))
		// A busy picture under the strip.
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7 % 251)
		}
		want := Stamp{Time: at.Add(time.Duration(w) * time.Millisecond), Seq: uint8(w % 64)}
		DrawStamp(img, want)
		got, err := ReadStamp(img)
		if err != nil || !got.Time.Equal(want.Time) || got.Seq != want.Seq {
			t.Fatalf("%d wide, raw: %+v %v", w, got, err)
		}
		// Through JPEG at a low quality, scaled down to 640 wide or less
		// (as stationd's preview), and JPEG again (as sent to the UI).
		var buf bytes.Buffer
		jpeg.Encode(&buf, img, &jpeg.Options{Quality: 50})
		dec, _ := jpeg.Decode(&buf)
		sw := min(w, 640) * 3 / 4
		small := image.NewRGBA(image.Rect(0, 0, sw, sw*3/4))
		xdraw.ApproxBiLinear.Scale(small, small.Rect, dec, dec.Bounds(), xdraw.Src, nil)
		buf.Reset()
		jpeg.Encode(&buf, small, &jpeg.Options{Quality: 60})
		dec, _ = jpeg.Decode(&buf)
		got, err = ReadStamp(dec)
		if err != nil || !got.Time.Equal(want.Time) || got.Seq != want.Seq {
			t.Errorf("%d wide through JPEG and scaling: %+v %v", w, got, err)
		}
	}
	plain := image.NewRGBA(image.Rect(0, 0, 640, 480))
	if _, err := ReadStamp(plain); err == nil {
		t.Error("stamp read from a blank image")
	}
	// One cell flipped: the check sum refuses it.
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	DrawStamp(img, Stamp{Time: at})
	for y := 0; y < 10; y++ {
		for x := 200; x < 210; x++ {
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2] = 255-img.Pix[i], 255-img.Pix[i+1], 255-img.Pix[i+2]
		}
	}
	if _, err := ReadStamp(img); err == nil || !strings.Contains(err.Error(), "check sum") {
		t.Errorf("flipped cell: %v", err)
	}
}

func FuzzReadStamp(f *testing.F) {
	// Small seeds: the fuzzer's cost grows with the size of its inputs.
	img := image.NewRGBA(image.Rect(0, 0, 64, 1))
	DrawStamp(img, Stamp{Time: time.UnixMilli(1_800_000_000_000), Seq: 5})
	f.Add(64, img.Pix)
	f.Add(64, make([]byte, 64*4))
	f.Add(3, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, w int, pix []byte) {
		if w <= 0 || w > 4096 || len(pix) < 4*w || len(pix) > 1<<16 {
			return
		}
		h := len(pix) / (4 * w)
		img := &image.RGBA{Pix: pix[:4*w*h], Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
		if s, err := ReadStamp(img); err == nil {
			// Whatever was read draws back to the same stamp.
			again := image.NewRGBA(img.Rect)
			DrawStamp(again, s)
			if s2, err := ReadStamp(again); err != nil || !s2.Time.Equal(s.Time) || s2.Seq != s.Seq {
				t.Fatalf("%+v redrawn reads %+v %v", s, s2, err)
			}
		}
	})
}

func FuzzParseControlsRequest(f *testing.F) {
	f.Add([]byte(`{"exposure": 250, "focus": 90}`))
	f.Add([]byte(`{"gain": -1e400}`))
	f.Add([]byte(`{"white_balance": "5000"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseControlsRequest(b)
		if err != nil {
			return
		}
		for k, v := range m {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s = %v accepted", k, v)
			}
		}
	})
}

// BenchmarkRenderFrame: one 640×480 frame rendered and JPEG-encoded, at
// neutral settings and through the mis-set camera (blur, gain noise,
// colour cast), with the capture stamp: the simulator's cost per frame.
func BenchmarkRenderFrame(b *testing.B) {
	p, err := LoadPerson(portrait, DefaultEyes)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Controls
	}{
		{"neutral-640x480", DefaultControls(DefaultSceneKelvin, DefaultFocusAt)},
		{"misset-640x480", MissetControls(DefaultFocusAt)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := NewRenderer(640, 480, p)
			if err != nil {
				b.Fatal(err)
			}
			s := State{Present: true, Gain: 1}
			for b.Loop() {
				if _, err := r.FrameWith(s, tc.c, &Stamp{Time: time.Now()}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadStamp640(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	DrawStamp(img, Stamp{Time: time.Now()})
	for b.Loop() {
		if _, err := ReadStamp(img); err != nil {
			b.Fatal(err)
		}
	}
}
