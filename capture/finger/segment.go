package finger

import "math"

// Segmentation thresholds (grey levels, on the 16x16 block standard
// deviation of the smoothed image). A ridge pattern at 500 ppi keeps most of
// its amplitude through the smoothing, pixel noise loses about 3/4 of it, so
// background with sensor noise up to sigma ~40 stays background.
const (
	segStdMax = 11.0
	// segStdMin and segStdRel: for faint prints (light touch, dry skin) the
	// threshold drops to segStdRel of the 90th percentile block deviation,
	// but never below segStdMin, the texture of an empty platen.
	segStdMin = 4.0
	segStdRel = 0.3
	// segMeanMax: a block this bright on average is paper or an empty platen
	// whatever its texture.
	segMeanMax = 248.0
)

// blockStats computes per 16-block mean and standard deviation of raw and
// the standard deviation of sm, in one pass over the image.
func (w *work) blockStats() {
	W, H := w.w, w.h
	w.nbx = (W + blk - 1) / blk
	w.nby = (H + blk - 1) / blk
	n := w.nbx * w.nby
	w.bMean = growF32(w.bMean, n)
	w.bStd = growF32(w.bStd, n)
	w.bStdS = growF32(w.bStdS, n)
	for by := 0; by < w.nby; by++ {
		y0, y1 := by*blk, min(by*blk+blk, H)
		for bx := 0; bx < w.nbx; bx++ {
			x0, x1 := bx*blk, min(bx*blk+blk, W)
			var s, ss, s2, ss2 int64
			for y := y0; y < y1; y++ {
				row := w.raw[y*W+x0 : y*W+x1]
				srow := w.sm[y*W+x0 : y*W+x1]
				// One row of a block: 16 * 255² fits an int32.
				var rs, rss, rs2, rss2 int32
				for x, v := range row {
					a, u := int32(v), int32(srow[x])
					rs += a
					rss += a * a
					rs2 += u
					rss2 += u * u
				}
				s, ss, s2, ss2 = s+int64(rs), ss+int64(rss), s2+int64(rs2), ss2+int64(rss2)
			}
			cnt := float64((x1 - x0) * (y1 - y0))
			i := by*w.nbx + bx
			m := float64(s) / cnt
			w.bMean[i] = float32(m)
			w.bStd[i] = float32(math.Sqrt(max(float64(ss)/cnt-m*m, 0)))
			m2 := float64(s2) / cnt
			w.bStdS[i] = float32(math.Sqrt(max(float64(ss2)/cnt-m2*m2, 0)))
		}
	}
}

// gradients sums the structure tensor of sm (Sobel gx², gy², gx·gy) per
// 16-block, for the blocks within one block of the foreground (the only
// ones the features and the orientation field read).
func (w *work) gradients() {
	W, H := w.w, w.h
	n := w.nbx * w.nby
	w.gxx = growF32(w.gxx, n)
	w.gyy = growF32(w.gyy, n)
	w.gxy = growF32(w.gxy, n)
	for by := 0; by < w.nby; by++ {
		y0, y1 := max(by*blk, 1), min(by*blk+blk, H-1)
		for bx := 0; bx < w.nbx; bx++ {
			near := false
			for gy := max(by-1, 0); gy <= min(by+1, w.nby-1) && !near; gy++ {
				for gx := max(bx-1, 0); gx <= min(bx+1, w.nbx-1); gx++ {
					if w.fg[gy*w.nbx+gx] {
						near = true
						break
					}
				}
			}
			if !near {
				continue
			}
			x0, x1 := max(bx*blk, 1), min(bx*blk+blk, W-1)
			var xx, yy, xy int64
			for y := y0; y < y1; y++ {
				up := w.sm[(y-1)*W:]
				srow := w.sm[y*W:]
				dn := w.sm[(y+1)*W:]
				// One row: 16 * (4*255)² fits an int32.
				var rxx, ryy, rxy int32
				for x := x0; x < x1; x++ {
					gx := int32(up[x+1]) + 2*int32(srow[x+1]) + int32(dn[x+1]) -
						int32(up[x-1]) - 2*int32(srow[x-1]) - int32(dn[x-1])
					gy := int32(dn[x-1]) + 2*int32(dn[x]) + int32(dn[x+1]) -
						int32(up[x-1]) - 2*int32(up[x]) - int32(up[x+1])
					rxx += gx * gx
					ryy += gy * gy
					rxy += gx * gy
				}
				xx, yy, xy = xx+int64(rxx), yy+int64(ryy), xy+int64(rxy)
			}
			i := by*w.nbx + bx
			w.gxx[i] = float32(xx)
			w.gyy[i] = float32(yy)
			w.gxy[i] = float32(xy)
		}
	}
}

// segment marks foreground 16-blocks: textured enough, not paper white; then
// keeps the connected components at least a tenth of the largest and fills
// holes (a pale patch inside a print is still the finger's area).
func (w *work) segment() {
	n := w.nbx * w.nby
	w.fg = growBool(w.fg, n)
	// 90th percentile of the smoothed block deviations, from a histogram.
	var hist [256]int
	for _, v := range w.bStdS {
		hist[min(int(v), 255)]++
	}
	p90, acc := 0, 0
	for p90 = 255; p90 > 0; p90-- {
		acc += hist[p90]
		if acc*10 >= n {
			break
		}
	}
	thr := min(segStdMax, max(segStdMin, segStdRel*float64(p90)))
	for i := range n {
		w.fg[i] = float64(w.bStdS[i]) >= thr && float64(w.bMean[i]) < segMeanMax
	}
	// Components, 4-connected.
	w.lab = growI32(w.lab, n)
	sizes := w.sizes[:0]
	nl := int32(0)
	for i := range n {
		if !w.fg[i] || w.lab[i] != 0 {
			continue
		}
		nl++
		sizes = append(sizes, w.flood(i, nl, true))
	}
	largest := 0
	for _, s := range sizes {
		largest = max(largest, s)
	}
	minKeep := max(3, largest/10)
	for i := range n {
		if w.fg[i] && sizes[w.lab[i]-1] < minKeep {
			w.fg[i] = false
		}
	}
	// Fill holes: background components that do not touch the image edge.
	clear(w.lab)
	nl = 0
	for i := range n {
		if w.fg[i] || w.lab[i] != 0 {
			continue
		}
		nl++
		w.flood(i, nl, false)
	}
	w.sizes = sizes
	edge := growBool(w.edge, int(nl)+1)
	w.edge = edge
	for bx := 0; bx < w.nbx; bx++ {
		edge[w.lab[bx]] = true
		edge[w.lab[(w.nby-1)*w.nbx+bx]] = true
	}
	for by := 0; by < w.nby; by++ {
		edge[w.lab[by*w.nbx]] = true
		edge[w.lab[by*w.nbx+w.nbx-1]] = true
	}
	for i := range n {
		if !w.fg[i] && !edge[w.lab[i]] {
			w.fg[i] = true
		}
	}
}

// flood labels the 4-connected component of blocks whose fg equals want,
// starting at i, with label l, and returns its size.
func (w *work) flood(i int, l int32, want bool) int {
	st := append(w.stack[:0], int32(i))
	w.lab[i] = l
	size := 0
	for len(st) > 0 {
		j := int(st[len(st)-1])
		st = st[:len(st)-1]
		size++
		x, y := j%w.nbx, j/w.nbx
		try := func(k int) {
			if w.fg[k] == want && w.lab[k] == 0 {
				w.lab[k] = l
				st = append(st, int32(k))
			}
		}
		if x > 0 {
			try(j - 1)
		}
		if x < w.nbx-1 {
			try(j + 1)
		}
		if y > 0 {
			try(j - w.nbx)
		}
		if y < w.nby-1 {
			try(j + w.nbx)
		}
	}
	w.stack = st
	return size
}
