package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

func writePGM(t *testing.T, name string, g *image.Gray) {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "P5\n# synthetic\n%d %d\n255\n", g.Rect.Dx(), g.Rect.Dy())
	b.Write(g.Pix)
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFingerQualityCommand(t *testing.T) {
	dir := t.TempDir()
	img, _, err := synthfinger.Print(21, 4, synthfinger.GoodImpression())
	if err != nil {
		t.Fatal(err)
	}
	pgm := filepath.Join(dir, "print.pgm")
	writePGM(t, pgm, img)
	pngName := filepath.Join(dir, "print.png")
	var pb bytes.Buffer
	if err := png.Encode(&pb, img); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pngName, pb.Bytes(), 0o644)
	bmpName := filepath.Join(dir, "print.bmp")
	var bb bytes.Buffer
	if err := bmp.Encode(&bb, img); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bmpName, bb.Bytes(), 0o644)
	blank := image.NewGray(image.Rect(0, 0, 256, 288))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	blankName := filepath.Join(dir, "blank.pgm")
	writePGM(t, blankName, blank)

	var out, errb bytes.Buffer
	// Flags after the files, as in the usage line.
	if code := run([]string{"finger-quality", pgm, pngName, bmpName, blankName, "--csv"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0][0] != "file" || rows[0][1] != "score" || rows[0][2] != "verdict" || rows[0][3] != "reasons" {
		t.Fatalf("csv: %v", rows)
	}
	// The three encodings of one print score alike.
	for _, r := range rows[1:4] {
		if r[2] != "fingerprint" || r[1] != rows[1][1] {
			t.Errorf("row %v: want a fingerprint scored %s like the PGM", r, rows[1][1])
		}
	}
	if rows[4][2] != "rejected" || rows[4][1] != "0" || rows[4][3] != "not a fingerprint" {
		t.Errorf("blank: %v", rows[4])
	}

	out.Reset()
	if code := run([]string{"finger-quality", pgm}, &out, &errb); code != 0 {
		t.Fatalf("plain output: exit %d", code)
	}
	if !strings.HasPrefix(out.String(), pgm+"\t") || !strings.Contains(out.String(), "fingerprint") {
		t.Errorf("plain output %q", out.String())
	}

	// A missing file and a colour image are errors, named in the output.
	bad := filepath.Join(dir, "colour.png")
	var cb bytes.Buffer
	png.Encode(&cb, image.NewRGBA(image.Rect(0, 0, 40, 40)))
	os.WriteFile(bad, cb.Bytes(), 0o644)
	out.Reset()
	code := run([]string{"finger-quality", filepath.Join(dir, "missing.png"), bad}, &out, &errb)
	if code != 1 || strings.Count(out.String(), "\terror\t") != 2 {
		t.Errorf("bad files: exit %d, output %q", code, out.String())
	}
	if code := run([]string{"finger-quality"}, &out, &errb); code != 2 {
		t.Errorf("no files: exit %d, want 2", code)
	}
}

func TestDecodePGM(t *testing.T) {
	good := []byte("P5 3 2 255 abcdef")
	g, err := decodePGM(good)
	if err != nil || g.Rect.Dx() != 3 || g.Rect.Dy() != 2 || string(g.Pix) != "abcdef" {
		t.Fatalf("%v %v", g, err)
	}
	g, err = decodePGM([]byte("P5\n#c\n2 1\n15\n\x0f\x00"))
	if err != nil || g.Pix[0] != 255 || g.Pix[1] != 0 {
		t.Fatalf("maxval 15: %v %v", g, err)
	}
	for _, bad := range []string{"P5", "P5 3", "P5 3 2 65535 ", "P5 0 2 255 ", "P5 3 2 255 abc", "P6 1 1 255 a", "P5 x 2 255 ", "P5 99999999 99999999 255 "} {
		if _, err := decodePGM([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzDecodePGM(f *testing.F) {
	f.Add([]byte("P5 3 2 255 abcdef"))
	f.Add([]byte("P5\n# comment\n2 2\n15\n\x01\x02\x03\x04"))
	f.Add([]byte("P5 1000000 1000000 255 "))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := decodePGM(data)
		if err != nil {
			return
		}
		if len(g.Pix) != g.Rect.Dx()*g.Rect.Dy() {
			t.Fatalf("%dx%d with %d pixels", g.Rect.Dx(), g.Rect.Dy(), len(g.Pix))
		}
	})
}
