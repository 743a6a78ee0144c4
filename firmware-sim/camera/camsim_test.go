package camsim

import (
	"bufio"
	"bytes"
	"image"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const portrait = "../../testdata/faces/grace_hopper_512x512.jpg"

func TestParseScript(t *testing.T) {
	steps, err := ParseScript(strings.NewReader("# booth\nempty 1s\nsit 500ms # comes in\ntilt -12.5 0.2s\nnoise 3\nunplug\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 5 || steps[2].Arg != -12.5 || steps[1].Line != 3 || steps[4].Verb != "unplug" {
		t.Errorf("steps %+v", steps)
	}
	for _, bad := range []string{"dance 1s", "tilt 1s", "sit", "sit -1s", "light x 1s", "noise 2 1s", "hold 2h", "tilt NaN 1s"} {
		if _, err := ParseScript(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

func TestTimeline(t *testing.T) {
	steps, _ := ParseScript(strings.NewReader("empty 1s\nsit 1s\nhold 1s\ntilt 20 1s\nblink 0.2s\nlight 0.5 1s\nleave 1s\nunplug\nhold 5s"))
	tl := NewTimeline(steps, 10)
	if tl.Frames() != 62 {
		t.Errorf("frames %d, want 62 (ends at unplug)", tl.Frames())
	}
	cases := []struct {
		n         int
		present   bool
		compliant bool
	}{
		{5, false, false}, {12, true, false}, {25, true, true}, {35, true, false}, {45, true, false}, {61, true, false},
	}
	for _, c := range cases {
		s := tl.At(c.n)
		if s.Present != c.present || s.Compliant() != c.compliant {
			t.Errorf("frame %d: %+v compliant=%v", c.n, s, s.Compliant())
		}
	}
	if s := tl.At(39); s.Tilt != 20 || !s.Moving {
		t.Errorf("last frame of the tilt: %+v", s)
	}
	if s := tl.At(40); !s.Closed || s.Moving || s.Tilt != 20 {
		t.Errorf("blink: %+v", s)
	}
	if s := tl.At(52); s.Gain != 0.5 {
		t.Errorf("light: %+v", s)
	}
}

// TestStreamIsMJPEG reads the stream as any HTTP client would: a
// multipart/x-mixed-replace body of JPEG parts, one per scripted frame.
func TestStreamIsMJPEG(t *testing.T) {
	p, err := LoadPerson(portrait, DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := ParseScript(strings.NewReader("sit 0.2s\nhold 0.2s"))
	srv, err := Start(Config{Width: 160, Height: 120, FPS: 50, Person: p, Script: steps})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bufio.NewReader(resp.Body), params["boundary"])
	n := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if seq, _ := strconv.Atoi(part.Header.Get("X-Frame-Seq")); seq != n {
			t.Errorf("part %d has seq %d", n, seq)
		}
		data, _ := io.ReadAll(part)
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil || img.Bounds() != image.Rect(0, 0, 160, 120) {
			t.Fatalf("frame %d: %v %v", n, err, img.Bounds())
		}
		n++
	}
	if n != 20 {
		t.Errorf("%d frames, want 20 (0.4 s at 50 fps)", n)
	}
	// Control: unplugged, the stream is refused.
	if _, err := http.Post(srv.ControlURL(), "text/plain", strings.NewReader("unplug")); err != nil {
		t.Fatal(err)
	}
	r2, err := http.Get(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("unplugged stream: %s", r2.Status)
	}
	r3, _ := http.Post(srv.ControlURL(), "text/plain", strings.NewReader("dance 1s"))
	if r3.StatusCode != http.StatusBadRequest {
		t.Errorf("bad script: %s", r3.Status)
	}
	r3.Body.Close()
}

func TestRenderBrightnessFollowsScript(t *testing.T) {
	p, err := LoadPerson(portrait, DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(160, 120, p)
	if err != nil {
		t.Fatal(err)
	}
	mean := func(s State) float64 {
		b, err := r.Frame(s)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := jpeg.Decode(bytes.NewReader(b))
		var sum float64
		bb := img.Bounds()
		for y := bb.Min.Y; y < bb.Max.Y; y++ {
			for x := bb.Min.X; x < bb.Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				sum += float64(r+g+b) / 3 / 257
			}
		}
		return sum / float64(bb.Dx()*bb.Dy())
	}
	seated := State{Present: true, Gain: 1}
	bright, dim := mean(seated), mean(State{Present: true, Gain: 0.5})
	if dim > 0.6*bright || dim < 0.4*bright {
		t.Errorf("gain 0.5: mean %.1f vs %.1f", dim, bright)
	}
	if empty := mean(State{Gain: 1, Y: 1}); empty < bright {
		t.Errorf("empty booth (%.1f) should be brighter than with the dark-suited person (%.1f)", empty, bright)
	}
}

func FuzzParseScript(f *testing.F) {
	f.Add("empty 1s\nsit 1s\ntilt 20 0.5s\nunplug\n")
	f.Add("light 0.4 200ms # dim\nnoise 5")
	f.Add("turn -30 1h")
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := ParseScript(strings.NewReader(s))
		if err != nil {
			return
		}
		tl := NewTimeline(steps, 25)
		for _, n := range []int{0, 1, tl.Frames() / 2, tl.Frames()} {
			tl.At(n)
		}
	})
}
