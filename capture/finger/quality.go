package finger

import (
	"image"
	"math"
	"sort"
)

// Reason is an instruction the officer can act on.
type Reason string

// The reasons Assess gives. Each is decided from the features named in its
// comment (thresholds in reasons.go).
const (
	NotAFingerprint Reason = "not a fingerprint"         // the gate rejected the image
	PressHarder     Reason = "press harder"              // small contact area or faint ridges
	TooDry          Reason = "finger too dry"            // thin, broken ridges
	TooWet          Reason = "too wet/smudged"           // thick, merged ridges, dark smears
	MoveToCentre    Reason = "move finger to the centre" // print off-centre or cut by the edge
	RollLess        Reason = "roll less"                 // print much wider than a plain impression
	CleanPlaten     Reason = "clean the platen"          // texture or smears outside the finger
)

// Features are the measured values the score is made from. Block features
// are means over the foreground 32x32 blocks. Pixel quantities are at 500 ppi.
type Features struct {
	Width, Height int // image size at 500 ppi

	ForegroundFraction float64 // foreground share of the image, 0..1
	ForegroundPixels   int     // foreground area in pixels at 500 ppi
	Mean               float64 // NFIQ 2 Mu: mean grey level of the whole image
	MeanBlockMean      float64 // NFIQ 2 MMB: mean of the 32x32 block means over the foreground
	Contrast           float64 // mean grey-level standard deviation of foreground blocks

	OCL         float64 // orientation certainty level, 0..1 (higher: clearer orientation)
	Coherence   float64 // ridge orientation coherence, 0..1
	OFL         float64 // orientation flow, 0..1 (higher: orientation jumps between blocks)
	LCS         float64 // local clarity, 0.5 (no pattern) .. 1 (clean ridges)
	FDA         float64 // frequency domain analysis, share of the ridge frequency in the profile spectrum
	RVU         float64 // ridge-valley uniformity: std of ridge width / valley width over blocks
	RidgeRatio  float64 // median ridge width / valley width (about 1 for a good print)
	RidgePeriod float64 // median ridge period in px

	RidgeFraction          float64 // share of foreground blocks with a clear ridge pattern
	PeriodSpread           float64 // interquartile range / median of the ridge periods of ridge-like blocks
	OCLTop, LCSTop, FDATop float64 // means over the best three quarters of the blocks (card text, smudges and the print's margin excluded)
	// OCLBest, LCSBest, FDABest are means over the best half of the
	// blocks: the clarity of the print where it is clear, little moved by
	// how much card, ink spatter or margin surrounds it (RidgeFraction
	// says how much that is).
	OCLBest, LCSBest, FDABest float64
	// OFLRidge is OFL over ridge-like blocks and their ridge-like
	// neighbours only.
	OFLRidge          float64
	OrientationSpread float64 // 1 - |mean of doubled ridge angles|: 0 for parallel stripes

	Minutiae        int     // minutiae kept after spurious removal
	MinutiaeCentre  int     // of which inside 200x200 px at their centre of mass
	MinutiaeDensity float64 // minutiae per 10 000 px² of foreground

	CentreOffset    float64 // distance of the foreground centroid from the image centre, in half-diagonals
	EdgeTouch       float64 // share of the image border covered by foreground blocks
	Aspect          float64 // foreground bounding box width / height
	DirtyBackground float64 // share of background blocks with texture or smears
}

// Mask is the foreground (region of interest) in blocks, addressed in the
// caller's pixel coordinates.
type Mask struct {
	Cols, Rows int
	Block      float64 // block side in the caller's pixels
	Bits       []bool  // row-major, Cols*Rows
}

// At reports whether pixel (x, y) of the assessed image (relative to its
// bounds' minimum) is foreground.
func (m Mask) At(x, y int) bool {
	if m.Block <= 0 || x < 0 || y < 0 {
		return false
	}
	c, r := int(float64(x)/m.Block), int(float64(y)/m.Block)
	if c >= m.Cols || r >= m.Rows {
		return false
	}
	return m.Bits[r*m.Cols+c]
}

// Count returns the number of foreground blocks.
func (m Mask) Count() int {
	n := 0
	for _, b := range m.Bits {
		if b {
			n++
		}
	}
	return n
}

// Result is the outcome of Assess.
type Result struct {
	// Score is 0-100, higher is better; 0 when the image is rejected.
	Score int
	// Fingerprint is false when the gate decided the image is not a
	// fingerprint; Reasons then holds NotAFingerprint and Rejection why.
	Fingerprint bool
	Rejection   string
	Reasons     []Reason
	Features    Features
	Mask        Mask
}

// Assess scores one 8-bit grey fingerprint image taken at ppi (<= 0 means
// 500). It returns an error only when the image cannot be assessed at all
// (nil, empty, absurd resolution, smaller than 34x34 or larger than 16 Mpx
// at 500 ppi); anything else, however unlike a finger, gets a Result.
func Assess(img *image.Gray, ppi int) (Result, error) {
	w := workPool.Get().(*work)
	defer workPool.Put(w)
	scale, err := w.load(img, ppi)
	if err != nil {
		return Result{}, err
	}
	w.smooth()
	w.blockStats()
	w.segment()
	w.gradients()
	var f Features
	w.measure(&f)
	var res Result
	res.Features = f
	res.Mask = w.mask(scale)
	if why := gate(&f); why != "" {
		res.Rejection = why
		res.Reasons = []Reason{NotAFingerprint}
		return res, nil
	}
	res.Fingerprint = true
	res.Score = score(&f)
	res.Reasons = reasons(&f)
	return res, nil
}

// mask converts the 16-block foreground to the caller's pixel scale.
func (w *work) mask(scale float64) Mask {
	m := Mask{Cols: w.nbx, Rows: w.nby, Block: blk / scale, Bits: make([]bool, w.nbx*w.nby)}
	copy(m.Bits, w.fg)
	return m
}

// measure computes all features from the segmented work buffers.
func (w *work) measure(f *Features) {
	W, H := w.w, w.h
	f.Width, f.Height = W, H
	var sum int64
	for _, v := range w.raw {
		sum += int64(v)
	}
	f.Mean = float64(sum) / float64(W*H)

	// Foreground geometry and background dirt.
	nfg, nbg, dirty := 0, 0, 0
	var cx, cy float64
	bx0, by0, bx1, by1 := w.nbx, w.nby, -1, -1
	var contrast float64
	var bgHist [64]int
	for i, fg := range w.fg {
		if !fg {
			bgHist[min(int(w.bStdS[i]), 63)]++
			nbg++
		}
	}
	bgMedian, acc := 0, 0
	for bgMedian = 0; bgMedian < 63; bgMedian++ {
		acc += bgHist[bgMedian]
		if 2*acc >= nbg {
			break
		}
	}
	dirtStd := max(dirtStdMin, dirtNoiseX*(float64(bgMedian)+0.5))
	for by := 0; by < w.nby; by++ {
		for bx := 0; bx < w.nbx; bx++ {
			i := by*w.nbx + bx
			bw := min(blk, W-bx*blk)
			bh := min(blk, H-by*blk)
			if w.fg[i] {
				nfg++
				f.ForegroundPixels += bw * bh
				cx += float64(bx*blk) + float64(bw)/2
				cy += float64(by*blk) + float64(bh)/2
				bx0, by0 = min(bx0, bx), min(by0, by)
				bx1, by1 = max(bx1, bx), max(by1, by)
				contrast += float64(w.bStd[i])
			} else if float64(w.bStdS[i]) >= dirtStd || float64(w.bMean[i]) < dirtMeanMax {
				dirty++
			}
		}
	}
	f.ForegroundFraction = float64(f.ForegroundPixels) / float64(W*H)
	if nbg > 0 {
		f.DirtyBackground = float64(dirty) / float64(nbg)
	}
	if nfg == 0 {
		return
	}
	f.Contrast = contrast / float64(nfg)
	cx /= float64(nfg)
	cy /= float64(nfg)
	hd := math.Hypot(float64(W), float64(H)) / 2
	f.CentreOffset = math.Hypot(cx-float64(W)/2, cy-float64(H)/2) / hd
	f.Aspect = float64(bx1-bx0+1) / float64(by1-by0+1)
	edge, border := 0, 0
	for bx := 0; bx < w.nbx; bx++ {
		for _, by := range [2]int{0, w.nby - 1} {
			border++
			if w.fg[by*w.nbx+bx] {
				edge++
			}
		}
	}
	for by := 1; by < w.nby-1; by++ {
		for _, bx := range [2]int{0, w.nbx - 1} {
			border++
			if w.fg[by*w.nbx+bx] {
				edge++
			}
		}
	}
	f.EdgeTouch = float64(edge) / float64(border)

	// 32x32 feature blocks wholly in the foreground.
	n32x, n32y := W/fblk, H/fblk
	bfs := w.bfs[:0]
	var mmb float64
	for by := 0; by < n32y; by++ {
		for bx := 0; bx < n32x; bx++ {
			i0 := (2*by)*w.nbx + 2*bx
			idx := [4]int{i0, i0 + 1, i0 + w.nbx, i0 + w.nbx + 1}
			all := true
			var a, b, c, m float64
			for _, i := range idx {
				if !w.fg[i] {
					all = false
					break
				}
				a += float64(w.gxx[i])
				b += float64(w.gyy[i])
				c += float64(w.gxy[i])
				m += float64(w.bMean[i])
			}
			if !all {
				continue
			}
			var bf blockFeat
			bf.bx, bf.by = bx, by
			bf.mean = m / 4
			mmb += bf.mean
			w.analyseBlock(&bf, bx*fblk, by*fblk, a, b, c)
			bfs = append(bfs, bf)
		}
	}
	w.bfs = bfs
	if len(bfs) > 0 {
		w.blockAggregates(f, bfs, n32x, n32y)
		f.MeanBlockMean = mmb / float64(len(bfs))
	}

	// Minutiae over the foreground's bounding box.
	x0, y0 := bx0*blk, by0*blk
	x1, y1 := min((bx1+1)*blk, W), min((by1+1)*blk, H)
	w.orientSmooth(x0, y0, x1, y1)
	w.binarise(x0, y0, x1, y1)
	w.thin(x0, y0, x1, y1)
	f.Minutiae = w.extract(x0, y0, x1, y1)
	if f.Minutiae > 0 {
		var mx, my float64
		for _, m := range w.minu {
			if !m.dead {
				mx += float64(m.x)
				my += float64(m.y)
			}
		}
		mx /= float64(f.Minutiae)
		my /= float64(f.Minutiae)
		for _, m := range w.minu {
			if !m.dead && math.Abs(float64(m.x)-mx) <= centreRect/2 && math.Abs(float64(m.y)-my) <= centreRect/2 {
				f.MinutiaeCentre++
			}
		}
	}
	f.MinutiaeDensity = float64(f.Minutiae) / float64(f.ForegroundPixels) * 1e4
}

// blockAggregates turns the per-block features into image features.
func (w *work) blockAggregates(f *Features, bfs []blockFeat, n32x, n32y int) {
	n := float64(len(bfs))
	var ridge int
	var sc, ss float64
	ratios := w.ratios[:0]
	periods := w.pers[:0]
	grid := growI32(w.grid, n32x*n32y)
	w.grid = grid
	defer func() { w.ratios, w.pers = ratios, periods }()
	for i := range grid {
		grid[i] = -1
	}
	for i, b := range bfs {
		grid[b.by*n32x+b.bx] = int32(i)
		f.OCL += b.ocl
		f.Coherence += b.coh
		f.LCS += b.lcs
		f.FDA += b.fda
		if b.ridgeLike {
			ridge++
			sc += math.Cos(2 * b.theta)
			ss += math.Sin(2 * b.theta)
			periods = append(periods, b.period)
		}
		if b.wr > 0 && b.wv > 0 {
			ratios = append(ratios, b.wr/b.wv)
		}
	}
	f.OCL /= n
	f.OCLTop = topMean(bfs, 0.75, func(b *blockFeat) float64 { return b.ocl })
	f.LCSTop = topMean(bfs, 0.75, func(b *blockFeat) float64 { return b.lcs })
	f.FDATop = topMean(bfs, 0.75, func(b *blockFeat) float64 { return b.fda })
	f.OCLBest = topMean(bfs, 0.5, func(b *blockFeat) float64 { return b.ocl })
	f.LCSBest = topMean(bfs, 0.5, func(b *blockFeat) float64 { return b.lcs })
	f.FDABest = topMean(bfs, 0.5, func(b *blockFeat) float64 { return b.fda })
	f.Coherence /= n
	f.LCS /= n
	f.FDA /= n
	f.RidgeFraction = float64(ridge) / n
	if ridge > 0 {
		f.OrientationSpread = 1 - math.Hypot(sc, ss)/float64(ridge)
		f.RidgePeriod = median(periods)
		q1, q3 := periods[len(periods)/4], periods[(3*len(periods))/4]
		f.PeriodSpread = (q3 - q1) / f.RidgePeriod
	}
	if len(ratios) > 0 {
		f.RidgeRatio = median(ratios)
		var m, v float64
		for _, r := range ratios {
			m += r
		}
		m /= float64(len(ratios))
		for _, r := range ratios {
			v += (r - m) * (r - m)
		}
		f.RVU = math.Sqrt(v / float64(len(ratios)))
	}
	// OFL (NFIQ 2 orientation flow): per block, the mean angle to its
	// foreground 8-neighbours; the part above θmin = 4° scaled to 0..1 by
	// 90° - θmin; the image value is the mean over blocks.
	f.OFL = w.ofl(bfs, grid, n32x, n32y, false)
	f.OFLRidge = w.ofl(bfs, grid, n32x, n32y, true)
}

// ofl is NFIQ 2's orientation flow over the blocks bfs (grid maps 32-block
// positions to their index in bfs, -1 outside the foreground); ridgeOnly
// keeps only ridge-like blocks and neighbours.
func (w *work) ofl(bfs []blockFeat, grid []int32, n32x, n32y int, ridgeOnly bool) float64 {
	const thetaMin = 4.0
	var ofl float64
	var nofl int
	for _, b := range bfs {
		if ridgeOnly && !b.ridgeLike {
			continue
		}
		var d float64
		var k int
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				x, y := b.bx+dx, b.by+dy
				if (dx == 0 && dy == 0) || x < 0 || y < 0 || x >= n32x || y >= n32y {
					continue
				}
				j := grid[y*n32x+x]
				if j < 0 || (ridgeOnly && !bfs[j].ridgeLike) {
					continue
				}
				a := math.Abs(b.theta - bfs[j].theta)
				if a > math.Pi/2 {
					a = math.Pi - a
				}
				d += a
				k++
			}
		}
		if k == 0 {
			continue
		}
		deg := d / float64(k) * 180 / math.Pi
		ofl += max(0, deg-thetaMin) / (90 - thetaMin)
		nofl++
	}
	if nofl == 0 {
		return 0
	}
	return ofl / float64(nofl)
}

// topMean is the mean of the upper share (0..1) of a block feature.
func topMean(bfs []blockFeat, share float64, get func(*blockFeat) float64) float64 {
	var hist [101]int
	var sum [101]float64
	for i := range bfs {
		v := get(&bfs[i])
		k := min(max(int(v*100), 0), 100)
		hist[k]++
		sum[k] += v
	}
	keep := max(int(math.Ceil(share*float64(len(bfs)))), 1)
	var s float64
	n := 0
	for k := 100; k >= 0 && n < keep; k-- {
		take := min(hist[k], keep-n)
		if hist[k] > 0 {
			s += sum[k] * float64(take) / float64(hist[k])
		}
		n += take
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
