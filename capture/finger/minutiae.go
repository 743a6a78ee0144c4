package finger

// Minutia kinds.
const (
	Ending      = 1
	Bifurcation = 3
)

// Minutia is one ridge ending or bifurcation, in 500 ppi pixel coordinates.
type Minutia struct {
	X, Y int
	Kind int // Ending or Bifurcation (its crossing number)
}

type minutia struct {
	x, y int32
	kind uint8
	dead bool
}

// Spurious-minutia rules, in pixels at 500 ppi (a ridge period is ~9 px).
const (
	binWin     = 8  // half side of the local-mean window of binarisation (17x17: two periods)
	spurLen    = 10 // an ending whose ridge meets another minutia this soon is a spur or a short ridge
	breakDist  = 7  // two endings this close are the two sides of one ridge break; two bifurcations a bridge
	clusterR   = 12 // a minutia with clusterMax or more others this close sits in noise
	clusterMax = 3
	centreRect = 200 // NFIQ 2 counts minutiae in a 200x200 rectangle at their centre of mass
)

// Neighbour bit order: N, NE, E, SE, S, SW, W, NW.
var nbDX = [8]int{0, 1, 1, 1, 0, -1, -1, -1}
var nbDY = [8]int{-1, -1, 0, 1, 1, 1, 0, -1}

var (
	zsDel [2][256]bool // Zhang-Suen deletion tables for the two sub-iterations
	cnLUT [256]uint8   // crossing number of a neighbourhood code
)

func init() {
	for code := 0; code < 256; code++ {
		p := func(i int) int { return (code >> uint(i&7)) & 1 }
		b, a := 0, 0
		for i := 0; i < 8; i++ {
			b += p(i)
			if p(i) == 0 && p(i+1) == 1 {
				a++
			}
		}
		cnLUT[code] = uint8(a)
		// P2=N(0), P4=E(2), P6=S(4), P8=W(6).
		ok := b >= 2 && b <= 6 && a == 1
		zsDel[0][code] = ok && p(0)*p(2)*p(4) == 0 && p(2)*p(4)*p(6) == 0
		zsDel[1][code] = ok && p(0)*p(2)*p(6) == 0 && p(0)*p(4)*p(6) == 0
	}
}

// code returns the neighbourhood code of interior pixel i of skel.
func nbCode(s []uint8, i, W int) int {
	return int(s[i-W]) | int(s[i-W+1])<<1 | int(s[i+1])<<2 | int(s[i+W+1])<<3 |
		int(s[i+W])<<4 | int(s[i+W-1])<<5 | int(s[i-1])<<6 | int(s[i-W-1])<<7
}

// fgAt reports whether pixel (x, y) lies in a foreground block.
func (w *work) fgAt(x, y int) bool {
	return w.fg[(y/blk)*w.nbx+x/blk]
}

// fgInner reports whether the block of (x, y) and its eight neighbours are
// all foreground: minutiae at the edge of the print are where ridges are cut,
// not where they end.
func (w *work) fgInner(x, y int) bool {
	bx, by := x/blk, y/blk
	if bx == 0 || by == 0 || bx >= w.nbx-1 || by >= w.nby-1 {
		return false
	}
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			if !w.fg[(by+dy)*w.nbx+bx+dx] {
				return false
			}
		}
	}
	return true
}

// binarise marks ridge pixels (darker than the local mean of the smoothed
// image over a 17x17 window) inside foreground blocks, within the bounding
// box x0..x1, y0..y1 of the foreground. The one-pixel frame stays 0.
func (w *work) binarise(x0, y0, x1, y1 int) {
	W, H := w.w, w.h
	w.skel = growU8(w.skel, W*H)
	clear(w.skel)
	// Integral image of sm.
	n := (W + 1) * (H + 1)
	w.integ = growI32(w.integ, n)
	for y := 0; y < H; y++ {
		var rs int32
		row := w.osm[y*W:]
		base := (y + 1) * (W + 1)
		prev := y * (W + 1)
		for x := 0; x < W; x++ {
			rs += int32(row[x])
			w.integ[base+x+1] = w.integ[prev+x+1] + rs
		}
	}
	stride := W + 1
	for by := y0 / blk; by*blk < y1; by++ {
		for bx := x0 / blk; bx*blk < x1; bx++ {
			if !w.fg[by*w.nbx+bx] {
				continue
			}
			for y := max(by*blk, 1); y < min(by*blk+blk, H-1); y++ {
				ya, yb := max(y-binWin, 0), min(y+binWin+1, H)
				ra, rb := w.integ[ya*stride:], w.integ[yb*stride:]
				row := w.osm[y*W:]
				out := w.skel[y*W:]
				xs, xe := max(bx*blk, 1), min(bx*blk+blk, W-1)
				if xs-binWin >= 0 && xe+binWin <= W && yb-ya == 2*binWin+1 {
					// Window wholly inside the image: constant area.
					const area = (2*binWin + 1) * (2*binWin + 1)
					for x := xs; x < xe; x++ {
						xa, xb := x-binWin, x+binWin+1
						if int32(row[x])*area < rb[xb]-ra[xb]-rb[xa]+ra[xa] {
							out[x] = 1
						}
					}
					continue
				}
				for x := xs; x < xe; x++ {
					xa, xb := max(x-binWin, 0), min(x+binWin+1, W)
					sum := rb[xb] - ra[xb] - rb[xa] + ra[xa]
					area := int32((yb - ya) * (xb - xa))
					if int32(row[x])*area < sum {
						out[x] = 1
					}
				}
			}
		}
	}
}

// thin reduces the ridge map to one-pixel-wide lines (Zhang & Suen 1984).
// Only ridge pixels are visited: the candidate list starts as every ridge
// pixel in the bounding box and keeps the survivors of each pass.
func (w *work) thin(x0, y0, x1, y1 int) {
	W, H := w.w, w.h
	x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, W-1), min(y1, H-1)
	cand := w.cand[:0]
	for y := y0; y < y1; y++ {
		row := w.skel[y*W : y*W+x1]
		for x := x0; x < x1; x++ {
			if row[x] != 0 {
				cand = append(cand, int32(y*W+x))
			}
		}
	}
	del := w.stack[:0]
	s := w.skel
	for {
		changed := false
		for sub := 0; sub < 2; sub++ {
			del = del[:0]
			tab := &zsDel[sub]
			for _, i := range cand {
				// A pixel whose four 4-neighbours are set fails both
				// sub-iterations' conditions: skip the table look-up.
				if s[i] == 0 || s[i-1]&s[i+1]&s[int(i)-W]&s[int(i)+W] != 0 {
					continue
				}
				if tab[nbCode(s, int(i), W)] {
					del = append(del, i)
				}
			}
			for _, i := range del {
				s[i] = 0
			}
			changed = changed || len(del) > 0
		}
		if !changed {
			break
		}
		k := 0
		for _, i := range cand {
			if s[i] != 0 {
				cand[k] = i
				k++
			}
		}
		cand = cand[:k]
	}
	w.cand = cand
	w.stack = del
}

// extract finds minutiae by crossing number in the inner foreground, then
// removes spurious ones. It returns the number kept.
func (w *work) extract(x0, y0, x1, y1 int) int {
	W, H := w.w, w.h
	w.minu = w.minu[:0]
	// After thin, w.cand lists exactly the skeleton pixels, in raster order.
	for _, ci := range w.cand {
		i := int(ci)
		x, y := i%W, i/W
		if x < x0 || x >= x1 || y < y0 || y >= y1 || y < 1 || y >= H-1 || x < 1 || x >= W-1 {
			continue
		}
		{
			cn := cnLUT[nbCode(w.skel, i, W)]
			if (cn == 1 || cn >= 3) && w.fgInner(x, y) {
				k := uint8(Ending)
				if cn >= 3 {
					k = Bifurcation
				}
				w.minu = append(w.minu, minutia{x: int32(x), y: int32(y), kind: k})
			}
		}
	}
	if len(w.minu) == 0 {
		return 0
	}
	w.removeSpurs()
	w.removePairs()
	kept := 0
	for _, m := range w.minu {
		if !m.dead {
			kept++
		}
	}
	return kept
}

// removeSpurs follows the ridge from each ending for spurLen pixels; meeting
// another minutia that soon means a spur (ending-bifurcation) or a short ridge
// fragment (ending-ending): both go.
func (w *work) removeSpurs() {
	W, H := w.w, w.h
	// Map pixel -> minutia index via a grid lookup through the bucket list.
	w.buildBuckets()
	for mi := range w.minu {
		m := &w.minu[mi]
		if m.kind != Ending {
			continue
		}
		px, py := int(m.x), int(m.y)
		prevX, prevY := -1, -1
		var visited [spurLen + 1]int
		nv := 0
		visited[nv] = py*W + px
		nv++
		for step := 0; step < spurLen; step++ {
			nx, ny := -1, -1
			// Prefer 4-neighbours, then diagonals.
			for _, k := range [8]int{0, 2, 4, 6, 1, 3, 5, 7} {
				qx, qy := px+nbDX[k], py+nbDY[k]
				if qx < 1 || qy < 1 || qx >= W-1 || qy >= H-1 || w.skel[qy*W+qx] == 0 {
					continue
				}
				if qx == prevX && qy == prevY {
					continue
				}
				seen := false
				for _, v := range visited[:nv] {
					if v == qy*W+qx {
						seen = true
						break
					}
				}
				if !seen {
					nx, ny = qx, qy
					break
				}
			}
			if nx < 0 {
				m.dead = true // an isolated fragment shorter than spurLen
				break
			}
			prevX, prevY, px, py = px, py, nx, ny
			if nv < len(visited) {
				visited[nv] = py*W + px
				nv++
			}
			cn := cnLUT[nbCode(w.skel, py*W+px, W)]
			if cn == 1 || cn >= 3 {
				if j := w.minutiaNear(px, py, 1); j >= 0 && j != mi {
					w.minu[j].dead = true
				}
				m.dead = true
				break
			}
		}
	}
}

// buildBuckets sorts minutiae into 16x16 pixel buckets (a linked list in
// w.bucket: head per block, then next per minutia).
func (w *work) buildBuckets() {
	nb := w.nbx * w.nby
	n := len(w.minu)
	w.bucket = growI32(w.bucket, nb+n)
	for i := range nb {
		w.bucket[i] = -1
	}
	for i := range w.minu {
		b := int(w.minu[i].y)/blk*w.nbx + int(w.minu[i].x)/blk
		w.bucket[nb+i] = w.bucket[b]
		w.bucket[b] = int32(i)
	}
}

// minutiaNear returns the index of a minutia within r (Chebyshev) of (x, y),
// or -1.
func (w *work) minutiaNear(x, y, r int) int {
	nb := w.nbx * w.nby
	bx, by := x/blk, y/blk
	for gy := max(by-1, 0); gy <= min(by+1, w.nby-1); gy++ {
		for gx := max(bx-1, 0); gx <= min(bx+1, w.nbx-1); gx++ {
			for j := w.bucket[gy*w.nbx+gx]; j >= 0; j = w.bucket[nb+int(j)] {
				m := &w.minu[j]
				if abs(int(m.x)-x) <= r && abs(int(m.y)-y) <= r {
					return int(j)
				}
			}
		}
	}
	return -1
}

// removePairs drops ridge breaks (two endings within breakDist), bridges
// (two bifurcations within breakDist) and minutiae in noise clusters.
func (w *work) removePairs() {
	nb := w.nbx * w.nby
	w.keep = growBool(w.keep, len(w.minu))
	for i := range w.minu {
		w.keep[i] = !w.minu[i].dead
	}
	for i := range w.minu {
		m := &w.minu[i]
		if !w.keep[i] {
			continue
		}
		bx, by := int(m.x)/blk, int(m.y)/blk
		near := 0
		for gy := max(by-1, 0); gy <= min(by+1, w.nby-1); gy++ {
			for gx := max(bx-1, 0); gx <= min(bx+1, w.nbx-1); gx++ {
				for j := w.bucket[gy*w.nbx+gx]; j >= 0; j = w.bucket[nb+int(j)] {
					if int(j) == i || w.minu[j].dead {
						continue
					}
					o := &w.minu[j]
					dx, dy := int(o.x-m.x), int(o.y-m.y)
					d2 := dx*dx + dy*dy
					if d2 <= clusterR*clusterR {
						near++
					}
					if d2 <= breakDist*breakDist && o.kind == m.kind {
						w.keep[i] = false
						w.keep[j] = false
					}
				}
			}
		}
		if near >= clusterMax {
			w.keep[i] = false
		}
	}
	for i := range w.minu {
		w.minu[i].dead = !w.keep[i]
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
