// Command gen makes the transformed test portraits in testdata/faces from
// the two public-domain originals there. It was run once and its output is
// committed; run it again (from the module root) to re-create the files:
//
//	go run ./capture/face/internal/gen testdata/faces
//
// Each output is one defect applied to an original; testdata/faces/
// expected.csv says what verdict the checker must give and why.
package main

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"gocv.io/x/gocv"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR (the testdata/faces directory)")
		os.Exit(2)
	}
	dir := os.Args[1]
	astro := load(filepath.Join(dir, "astronaut.png"))
	hopper := load(filepath.Join(dir, "grace_hopper_512x512.jpg"))
	defer astro.Close()
	defer hopper.Close()

	for _, src := range []struct {
		name string
		m    gocv.Mat
		// face centre (x, y) in the original, for rotations and light ramps,
		// and the face box's horizontal extent.
		cx, cy, x0, x1 float64
	}{
		{"astronaut", astro, 225, 118, 178, 271},
		{"hopper", hopper, 265, 210, 174, 356},
	} {
		n, m := src.name, src.m
		save(dir, n+"_gamma0.9.jpg", lut(m, func(v float64) float64 { return 255 * math.Pow(v/255, 0.9) }), 95)
		save(dir, n+"_mirrored.jpg", flip(m), 95)
		save(dir, n+"_dark_gamma3.jpg", lut(m, func(v float64) float64 { return 255 * math.Pow(v/255, 3) }), 95)
		save(dir, n+"_overexposed.jpg", lut(m, func(v float64) float64 { return 1.9*v + 55 }), 95)
		mean := m.Mean()
		g := (mean.Val1 + mean.Val2 + mean.Val3) / 3
		save(dir, n+"_lowcontrast.jpg", lut(m, func(v float64) float64 { return g + 0.25*(v-g) }), 95)
		save(dir, n+"_blur3.jpg", blur(m, 3), 95)
		save(dir, n+"_blur6.jpg", blur(m, 6), 95)
		save(dir, n+"_small.jpg", small(m, 0.3), 95)
		save(dir, n+"_corner.jpg", shift(m, int(400-src.cx), int(420-src.cy)), 95)
		save(dir, n+"_cropped_top.jpg", cropRows(m, int(src.cy-30)), 95)
		save(dir, n+"_roll15.jpg", rotate(m, src.cx, src.cy, 15), 95)
		save(dir, n+"_roll-25.jpg", rotate(m, src.cx, src.cy, -25), 95)
		save(dir, n+"_sidelight.jpg", ramp(m, src.x0, src.x1, 1.3, 0.4), 95)
		save(dir, n+"_jpeg_q5.jpg", m.Clone(), 5)
		save(dir, n+"_120px.png", resize(m, 120), 0)
	}
	two := gocv.NewMat()
	gocv.Hconcat(astro, hopper, &two)
	save(dir, "two_faces.jpg", two, 95)
	save(dir, "noface_backdrop.jpg", backdrop(480, 640), 95)
}

func load(p string) gocv.Mat {
	m := gocv.IMRead(p, gocv.IMReadColor)
	if m.Empty() {
		fmt.Fprintln(os.Stderr, "gen: cannot read", p)
		os.Exit(1)
	}
	return m
}

// save writes m (and closes it) as JPEG at quality q, or PNG when q is 0.
func save(dir, name string, m gocv.Mat, q int) {
	defer m.Close()
	params := []int{gocv.IMWriteJpegQuality, q}
	if q == 0 {
		params = []int{gocv.IMWritePngCompression, 9}
	}
	if !gocv.IMWriteWithParams(filepath.Join(dir, name), m, params) {
		fmt.Fprintln(os.Stderr, "gen: cannot write", name)
		os.Exit(1)
	}
}

func lut(m gocv.Mat, f func(float64) float64) gocv.Mat {
	t := gocv.NewMatWithSize(1, 256, gocv.MatTypeCV8U)
	defer t.Close()
	for i := 0; i < 256; i++ {
		t.SetUCharAt(0, i, uint8(math.Max(0, math.Min(255, math.Round(f(float64(i)))))))
	}
	out := gocv.NewMat()
	gocv.LUT(m, t, &out)
	return out
}

func flip(m gocv.Mat) gocv.Mat {
	out := gocv.NewMat()
	gocv.Flip(m, &out, 1)
	return out
}

func blur(m gocv.Mat, sigma float64) gocv.Mat {
	out := gocv.NewMat()
	gocv.GaussianBlur(m, &out, image.Pt(0, 0), sigma, sigma, gocv.BorderReflect101)
	return out
}

var grey = gocv.NewScalar(190, 190, 190, 0)

func small(m gocv.Mat, s float64) gocv.Mat {
	r := gocv.NewMat()
	defer r.Close()
	gocv.Resize(m, &r, image.Pt(int(float64(m.Cols())*s), int(float64(m.Rows())*s)), 0, 0, gocv.InterpolationArea)
	out := gocv.NewMatWithSizeFromScalar(grey, m.Rows(), m.Cols(), gocv.MatTypeCV8UC3)
	x, y := (m.Cols()-r.Cols())/2, (m.Rows()-r.Rows())/2
	roi := out.Region(image.Rect(x, y, x+r.Cols(), y+r.Rows()))
	r.CopyTo(&roi)
	roi.Close()
	return out
}

func affine(m gocv.Mat, v [6]float64, border gocv.BorderType) gocv.Mat {
	t := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer t.Close()
	for i, x := range v {
		t.SetDoubleAt(i/3, i%3, x)
	}
	out := gocv.NewMat()
	gocv.WarpAffineWithParams(m, &out, t, image.Pt(m.Cols(), m.Rows()), gocv.InterpolationCubic, border, color.RGBA{190, 190, 190, 0})
	return out
}

func shift(m gocv.Mat, dx, dy int) gocv.Mat {
	return affine(m, [6]float64{1, 0, float64(dx), 0, 1, float64(dy)}, gocv.BorderConstant)
}

func rotate(m gocv.Mat, cx, cy, deg float64) gocv.Mat {
	a, b := math.Cos(deg*math.Pi/180), math.Sin(deg*math.Pi/180)
	return affine(m, [6]float64{a, b, (1-a)*cx - b*cy, -b, a, b*cx + (1-a)*cy}, gocv.BorderReflect101)
}

func cropRows(m gocv.Mat, top int) gocv.Mat {
	r := m.Region(image.Rect(0, top, m.Cols(), m.Rows()))
	defer r.Close()
	return r.Clone()
}

func ramp(m gocv.Mat, x0, x1, from, to float64) gocv.Mat {
	out := m.Clone()
	for x := 0; x < m.Cols(); x++ {
		t := math.Max(0, math.Min(1, (float64(x)-x0)/(x1-x0)))
		k := from + t*(to-from)
		for y := 0; y < m.Rows(); y++ {
			v := m.GetVecbAt(y, x)
			for c := 0; c < 3; c++ {
				out.SetUCharAt(y, x*3+c, uint8(math.Min(255, float64(v[c])*k)))
			}
		}
	}
	return out
}

func resize(m gocv.Mat, w int) gocv.Mat {
	out := gocv.NewMat()
	gocv.Resize(m, &out, image.Pt(w, m.Rows()*w/m.Cols()), 0, 0, gocv.InterpolationArea)
	return out
}

// backdrop is a plain photo-studio backdrop: vertical gradient and noise.
func backdrop(w, h int) gocv.Mat {
	out := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 200 - 40*float64(y)/float64(h) + rng.NormFloat64()*2
			for c := 0; c < 3; c++ {
				out.SetUCharAt(y, x*3+c, uint8(math.Max(0, math.Min(255, v))))
			}
		}
	}
	return out
}
