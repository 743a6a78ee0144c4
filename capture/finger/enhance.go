package finger

import "math"

// Oriented smoothing before binarisation: each pixel is averaged with its
// neighbours along the local ridge direction, which closes small breaks and
// pores without merging neighbouring ridges (a light stand-in for Gabor
// enhancement).
const (
	osDirs = 16 // orientation quantisation (11.25° steps)
	osHalf = 4  // kernel half-length: 9 px, about one ridge period
)

// osOff holds, per quantised direction, the (dx, dy) steps of the kernel.
var osOff [osDirs][2*osHalf + 1][2]int

func init() {
	for d := 0; d < osDirs; d++ {
		a := math.Pi * float64(d) / osDirs
		c, s := math.Cos(a), math.Sin(a)
		for k := -osHalf; k <= osHalf; k++ {
			osOff[d][k+osHalf] = [2]int{int(math.Round(float64(k) * c)), int(math.Round(float64(k) * s))}
		}
	}
}

// orientSmooth writes into w.osm the ridge-direction smoothing of w.sm within the
// rectangle x0..x1, y0..y1. Directions come from the structure tensor summed
// over each block's 3x3 block neighbourhood (a 48x48 px window).
func (w *work) orientSmooth(x0, y0, x1, y1 int) {
	W, H := w.w, w.h
	nb := w.nbx * w.nby
	if cap(w.dir) < nb {
		w.dir = make([]uint8, nb)
	}
	w.dir = w.dir[:nb]
	for by := 0; by < w.nby; by++ {
		for bx := 0; bx < w.nbx; bx++ {
			var a, b, c float64
			for gy := max(by-1, 0); gy <= min(by+1, w.nby-1); gy++ {
				for gx := max(bx-1, 0); gx <= min(bx+1, w.nbx-1); gx++ {
					i := gy*w.nbx + gx
					a += float64(w.gxx[i])
					b += float64(w.gyy[i])
					c += float64(w.gxy[i])
				}
			}
			th := 0.5*math.Atan2(2*c, a-b) + math.Pi/2
			q := int(math.Round(th/math.Pi*osDirs)) % osDirs
			if q < 0 {
				q += osDirs
			}
			w.dir[by*w.nbx+bx] = uint8(q)
		}
	}
	w.osm = growU8(w.osm, W*H)
	copy(w.osm, w.sm)
	const n = 2*osHalf + 1
	var off [n]int
	for by := y0 / blk; by*blk < y1; by++ {
		for bx := x0 / blk; bx*blk < x1; bx++ {
			bi := by*w.nbx + bx
			if !w.fg[bi] {
				continue
			}
			for k, o := range &osOff[w.dir[bi]] {
				off[k] = o[1]*W + o[0]
			}
			for y := max(by*blk, osHalf); y < min(by*blk+blk, H-osHalf); y++ {
				for x := max(bx*blk, osHalf); x < min(bx*blk+blk, W-osHalf); x++ {
					i := y*W + x
					s := int(w.sm[i+off[0]]) + int(w.sm[i+off[1]]) + int(w.sm[i+off[2]]) +
						int(w.sm[i+off[3]]) + int(w.sm[i+off[4]]) + int(w.sm[i+off[5]]) +
						int(w.sm[i+off[6]]) + int(w.sm[i+off[7]]) + int(w.sm[i+off[8]])
					w.osm[i] = uint8((s + n/2) / n)
				}
			}
		}
	}
}
