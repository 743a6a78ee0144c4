package main

import (
	"bytes"
	"image"
	"image/png"
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
