package main

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWSQEncodeDecodeFiles(t *testing.T) {
	dir := t.TempDir()
	// A ridge-like 8-bit grey PGM.
	const w, h = 96, 120
	var pgm bytes.Buffer
	pgm.WriteString("P5\n# test\n96 120\n255\n")
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 128 + 100*((x+2*y)/5%2*2-1)
			pgm.WriteByte(byte(v))
		}
	}
	in := filepath.Join(dir, "in.pgm")
	if err := os.WriteFile(in, pgm.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	wsqFile := filepath.Join(dir, "out.wsq")
	var out, errOut bytes.Buffer
	if code := run([]string{"wsq", "encode", in, wsqFile, "--bitrate", "2.25", "--ppi", "500"}, &out, &errOut); code != 0 {
		t.Fatalf("encode exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "96x120") || !strings.Contains(out.String(), "ratio") {
		t.Errorf("encode output %q", out.String())
	}
	data, err := os.ReadFile(wsqFile)
	if err != nil || !bytes.HasPrefix(data, []byte{0xFF, 0xA0}) {
		t.Fatalf("output is not a WSQ stream: %v", err)
	}
	pngFile := filepath.Join(dir, "back.png")
	out.Reset()
	if code := run([]string{"wsq", "decode", wsqFile, pngFile}, &out, &errOut); code != 0 {
		t.Fatalf("decode exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "500 ppi") {
		t.Errorf("decode output %q", out.String())
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := img.(*image.Gray); !ok || g.Rect.Dx() != w || g.Rect.Dy() != h {
		t.Errorf("decoded PNG is %T %v", img, img.Bounds())
	}
}

func TestWSQCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.wsq")
	os.WriteFile(bad, []byte("not wsq"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"wsq"}, 2, "usage"},
		{[]string{"wsq", "squash"}, 2, "unknown wsq action"},
		{[]string{"wsq", "encode", "only-one"}, 2, "needs an input image"},
		{[]string{"wsq", "decode", bad, filepath.Join(dir, "x.png")}, 1, "not a WSQ stream"},
		{[]string{"wsq", "decode", "../../testdata/wsq/handbuilt_64x64.wsq", filepath.Join(dir, "h.png")}, 0, ""},
	} {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		if code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errOut.String(), c.code, c.want)
		}
	}
}

// --alloc mse and --fixed-rate keep the file within bitrate × pixels / 8
// bytes (plus the headers' few hundred), which the default FBI allocation
// does not promise; a bad --alloc is a usage error.
func TestWSQEncodeAllocationFlags(t *testing.T) {
	dir := t.TempDir()
	const w, h = 128, 128
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// ridges with a slowly turning direction and a little texture
			g.Pix[y*w+x] = byte(128 + 90*math.Sin(float64(x)*0.7+float64(y)*0.2+float64(x*y)/900) + float64((x*7+y*13)%9))
		}
	}
	in := filepath.Join(dir, "in.png")
	f, _ := os.Create(in)
	png.Encode(f, g)
	f.Close()
	const bitrate = 1.0
	budget := int(bitrate * w * h / 8)
	def := filepath.Join(dir, "default.wsq")
	var so0, se0 bytes.Buffer
	if code := run([]string{"wsq", "encode", in, def, "--bitrate", "1"}, &so0, &se0); code != 0 {
		t.Fatalf("default: exit %d: %s", code, se0.String())
	}
	defData, _ := os.ReadFile(def)
	for _, args := range [][]string{{"--alloc", "mse"}, {"--alloc", "fbi", "--fixed-rate"}} {
		out := filepath.Join(dir, strings.Join(args, "")+".wsq")
		var so, se bytes.Buffer
		if code := run(append([]string{"wsq", "encode", in, out, "--bitrate", "1"}, args...), &so, &se); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, se.String())
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(data, defData) {
			t.Errorf("%v: the same file as the default encoder's (flag ignored?)", args)
		}
		if len(data) > budget+400 {
			t.Errorf("%v: %d bytes, budget %d", args, len(data), budget)
		}
		if code := run([]string{"wsq", "decode", out, out + ".png"}, &so, &se); code != 0 {
			t.Errorf("%v: decoding what it wrote: exit %d: %s", args, code, se.String())
		}
	}
	var so, se bytes.Buffer
	if code := run([]string{"wsq", "encode", in, filepath.Join(dir, "x.wsq"), "--alloc", "best"}, &so, &se); code != 2 || !strings.Contains(se.String(), "use fbi or mse") {
		t.Errorf("--alloc best: exit %d, %q", code, se.String())
	}
}
