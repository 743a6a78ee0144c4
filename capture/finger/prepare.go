package finger

import (
	"errors"
	"fmt"
	"image"
	"sync"
)

// StandardPPI is the resolution every feature is defined at (ISO/IEC
// 29794-4:2024 and NFIQ 2 are defined for 500 ppi plain impressions).
const StandardPPI = 500

const (
	// blk is the segmentation and orientation-field block side in pixels at
	// 500 ppi; fblk is the feature block of NFIQ 2's local features (32x32,
	// about three ridge periods at 500 ppi).
	blk  = 16
	fblk = 32
	// minSide is the smallest image side (after resampling) that can hold
	// one feature block plus the gradient border.
	minSide = fblk + 2
	// maxPixels bounds the work per call (4096x4096 at 500 ppi covers any
	// ten-print slap scanner).
	maxPixels = 4096 * 4096
)

var (
	// ErrEmpty is returned for a nil or zero-sized image.
	ErrEmpty = errors.New("finger: empty image")
)

// work holds the buffers of one assessment; they are reused through a
// sync.Pool so that a capture loop does not allocate per frame.
type work struct {
	w, h   int
	raw    []uint8 // the image at 500 ppi, stride w
	sm     []uint8 // raw smoothed with a 5-tap binomial in x and y
	osm    []uint8 // sm smoothed along the ridges (binarisation input)
	dir    []uint8 // quantised ridge direction per 16-block
	tmp    []uint16
	skel   []uint8 // binarised, then thinned ridge map
	cand   []int32 // thinning candidates
	integ  []int32 // integral image of sm, (w+1)*(h+1)
	nbx    int     // 16-blocks across
	nby    int     // 16-blocks down
	bMean  []float32
	bStd   []float32
	bStdS  []float32
	gxx    []float32
	gyy    []float32
	gxy    []float32
	fg     []bool
	lab    []int32
	stack  []int32
	theta  []float32 // ridge orientation per 16-block (radians, [0, π))
	coh    []float32
	minu   []minutia
	bucket []int32
	keep   []bool
	sizes  []int
	edge   []bool
	bfs    []blockFeat
	ratios []float64
	pers   []float64
	grid   []int32
}

var workPool = sync.Pool{New: func() any { return new(work) }}

func growU8(b []uint8, n int) []uint8 {
	if cap(b) < n {
		return make([]uint8, n)
	}
	return b[:n]
}

func growF32(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	b = b[:n]
	clear(b)
	return b
}

func growBool(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}

func growI32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// load copies img into w.raw at 500 ppi. ppi <= 0 means 500.
func (w *work) load(img *image.Gray, ppi int) (scale float64, err error) {
	if img == nil {
		return 0, ErrEmpty
	}
	r := img.Bounds()
	sw, sh := r.Dx(), r.Dy()
	if sw <= 0 || sh <= 0 {
		return 0, ErrEmpty
	}
	if len(img.Pix) < (sh-1)*img.Stride+sw || img.Stride < sw {
		return 0, fmt.Errorf("finger: image buffer too short for %dx%d (stride %d)", sw, sh, img.Stride)
	}
	if ppi <= 0 {
		ppi = StandardPPI
	}
	if ppi < 100 || ppi > 4000 {
		return 0, fmt.Errorf("finger: resolution %d ppi outside 100-4000; give the scanner's true ppi", ppi)
	}
	scale = float64(StandardPPI) / float64(ppi)
	dw, dh := sw, sh
	if ppi != StandardPPI {
		dw = int(float64(sw)*scale + 0.5)
		dh = int(float64(sh)*scale + 0.5)
	}
	if dw < minSide || dh < minSide {
		return 0, fmt.Errorf("finger: image %dx%d is too small at 500 ppi (%dx%d; need at least %dx%d)", sw, sh, dw, dh, minSide, minSide)
	}
	if dw*dh > maxPixels {
		return 0, fmt.Errorf("finger: image %dx%d is too large (more than %d pixels at 500 ppi)", sw, sh, maxPixels)
	}
	w.w, w.h = dw, dh
	w.raw = growU8(w.raw, dw*dh)
	if ppi == StandardPPI {
		for y := 0; y < dh; y++ {
			copy(w.raw[y*dw:(y+1)*dw], img.Pix[y*img.Stride:y*img.Stride+sw])
		}
		return 1, nil
	}
	resampleBilinear(w.raw, dw, dh, img.Pix, img.Stride, sw, sh)
	return scale, nil
}

// resampleBilinear scales src (sw x sh) to dst (dw x dh), sampling pixel
// centres.
func resampleBilinear(dst []uint8, dw, dh int, src []uint8, stride, sw, sh int) {
	fx := float64(sw) / float64(dw)
	fy := float64(sh) / float64(dh)
	for y := 0; y < dh; y++ {
		sy := (float64(y)+0.5)*fy - 0.5
		if sy < 0 {
			sy = 0
		}
		y0 := int(sy)
		if y0 > sh-1 {
			y0 = sh - 1
		}
		y1 := min(y0+1, sh-1)
		ty := sy - float64(y0)
		r0 := src[y0*stride:]
		r1 := src[y1*stride:]
		for x := 0; x < dw; x++ {
			sx := (float64(x)+0.5)*fx - 0.5
			if sx < 0 {
				sx = 0
			}
			x0 := int(sx)
			if x0 > sw-1 {
				x0 = sw - 1
			}
			x1 := min(x0+1, sw-1)
			tx := sx - float64(x0)
			a := float64(r0[x0])*(1-tx) + float64(r0[x1])*tx
			b := float64(r1[x0])*(1-tx) + float64(r1[x1])*tx
			dst[y*dw+x] = uint8(a*(1-ty) + b*ty + 0.5)
		}
	}
}

// smooth fills w.sm with raw filtered by the binomial kernel [1 4 6 4 1]/16
// in x then y (a Gaussian of sigma 1 px), edges clamped. It suppresses pixel
// noise while keeping ridges (gain 0.78 at a 9 px period).
func (w *work) smooth() {
	W, H := w.w, w.h
	w.sm = growU8(w.sm, W*H)
	if cap(w.tmp) < W*H {
		w.tmp = make([]uint16, W*H)
	}
	t := w.tmp[:W*H]
	for y := 0; y < H; y++ {
		row := w.raw[y*W : (y+1)*W]
		out := t[y*W : (y+1)*W]
		// Interior: no clamping.
		for x := 2; x < W-2; x++ {
			out[x] = uint16(row[x-2]) + 4*uint16(row[x-1]) + 6*uint16(row[x]) + 4*uint16(row[x+1]) + uint16(row[x+2])
		}
		for _, x := range [4]int{0, 1, W - 2, W - 1} {
			xm2, xm1, xp1, xp2 := x-2, x-1, x+1, x+2
			if xm2 < 0 {
				xm2 = 0
				if xm1 < 0 {
					xm1 = 0
				}
			}
			if xp2 >= W {
				xp2 = W - 1
				if xp1 >= W {
					xp1 = W - 1
				}
			}
			out[x] = uint16(row[xm2]) + 4*uint16(row[xm1]) + 6*uint16(row[x]) + 4*uint16(row[xp1]) + uint16(row[xp2])
		}
	}
	for y := 0; y < H; y++ {
		ym2, ym1, yp1, yp2 := max(y-2, 0), max(y-1, 0), min(y+1, H-1), min(y+2, H-1)
		r2, r1, r0, q1, q2 := t[ym2*W:], t[ym1*W:], t[y*W:], t[yp1*W:], t[yp2*W:]
		out := w.sm[y*W : (y+1)*W]
		for x := 0; x < W; x++ {
			v := uint32(r2[x]) + 4*uint32(r1[x]) + 6*uint32(r0[x]) + 4*uint32(q1[x]) + uint32(q2[x])
			out[x] = uint8((v + 128) >> 8)
		}
	}
}
