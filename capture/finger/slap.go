package finger

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
)

// Slap segmentation: from one 4-4-2 slap image (four fingers of one hand
// or the two thumbs, taken together, ANSI/NIST-ITL 1-2011 impression types
// "plain" slaps of the FBI EBTS 4-4-2 capture), find the fingertips,
// estimate the hand's rotation, cut each fingertip out upright, name its
// finger position and score it with Assess.
//
// Method (in the family of NIST NFSEG, written from its published
// description, not its code):
//
//  1. Foreground: 8x8 blocks whose grey-level standard deviation shows a
//     ridge pattern (slapFgStd); smooth smudges and the bare platen have
//     almost none. A 3x3 closing fills blocks that fell on one valley.
//  2. Hand rotation: the foreground is projected across the fingers for
//     every candidate angle in ±slapMaxAngle; fingertips are longer than
//     wide, so the projection is narrowest (fewest occupied bins) when the
//     angle matches the hand. The middle of the narrowest plateau wins.
//  3. Fingers: runs of occupied bins of that projection; a run much wider
//     than one fingertip (touching fingers) is split at its deepest
//     valley. Runs with too little foreground are debris.
//  4. Fingertip: the distal end of each run, at most slapTipLen long along
//     the finger; its own axis is the principal axis of its blocks.
//  5. Positions: the runs, left to right, are fitted to the slap's slots
//     (index..little, or left thumb, right thumb) under both hands: a
//     cost for the spacing between fingertips (slapPitch) and for the
//     finger-length stagger (the little fingertip lies ~10 mm below the
//     middle one); the cheapest assignment wins. When the other hand fits
//     better, WrongHand is set.

// SlapKind is which slap the session asked for.
type SlapKind int

// Slap kinds; the numbers match the HID scanner's Arm report.
const (
	SlapRightFour SlapKind = 1
	SlapLeftFour  SlapKind = 2
	SlapTwoThumbs SlapKind = 3
)

func (k SlapKind) String() string {
	switch k {
	case SlapRightFour:
		return "right four"
	case SlapLeftFour:
		return "left four"
	case SlapTwoThumbs:
		return "two thumbs"
	}
	return fmt.Sprintf("slap kind %d", int(k))
}

// SlapPositions returns the finger positions (ANSI/NIST-ITL 1-2011 finger
// codes: 1 right thumb .. 10 left little) of a slap, left to right as they
// appear on the image: a right hand has its index at the left (the image
// reads like an ink print of the palm-down hand), a left hand is mirrored,
// and a thumbs slap has the left thumb at the left.
func SlapPositions(k SlapKind) []int {
	switch k {
	case SlapRightFour:
		return []int{2, 3, 4, 5}
	case SlapLeftFour:
		return []int{10, 9, 8, 7}
	case SlapTwoThumbs:
		return []int{6, 1}
	}
	return nil
}

// Geometry at 500 ppi (1 mm = 19.7 px).
const (
	slapBlock    = 8    // block side, px
	slapFgStd    = 15   // grey-level std of a ridge block; bare platen and smudges stay under ~6
	slapMaxAngle = 40   // hand rotation searched, degrees either way
	slapTipLen   = 520  // longest fingertip cut along the finger: 26 mm, a distal phalanx
	slapTipWidth = 300  // typical fingertip width in a slap, 15 mm
	slapPitch    = 355  // typical distance between neighbouring fingertips, 18 mm
	slapMinArea  = 9000 // px² of foreground below which a run is debris (a 95x95 px speck)
)

// slapStagger is where each fingertip of a right hand ends along the
// finger relative to the middle finger, px towards the wrist, index to
// little: typical adult proportions (index and ring ~2-3 mm shorter, the
// little finger ~10 mm). The left hand is the mirror image.
var slapStagger = [4]float64{60, 0, 40, 200}

// SlapOptions tune SegmentSlap.
type SlapOptions struct {
	// Expected lists the finger positions the session expects on the
	// platen (an amputated or bandaged finger is left out); nil expects
	// every finger of the kind.
	Expected []int
	// NoQuality skips scoring each fingertip with Assess.
	NoQuality bool
	// GeometryOnly finds and names the fingertips without cutting their
	// images (nor scoring them): SlapFinger.Image stays nil.
	GeometryOnly bool
}

// SlapFinger is one segmented fingertip.
type SlapFinger struct {
	// Position is the ANSI/NIST finger position assigned (1..10).
	Position int
	// Box is the fingertip's bounding box on the slap image, in the image's
	// coordinates (within img.Bounds()); Center the centre of its
	// foreground.
	Box    image.Rectangle
	Center image.Point
	// AngleDeg is the finger's axis, clockwise from pointing up.
	AngleDeg float64
	// Outline is the region Image was cut from: a rectangle turned with
	// the finger, its corners on the slap image (clamped to it), clockwise
	// from the fingertip's left. Tighter than Box on a tilted finger.
	Outline [4]image.Point
	// Image is the fingertip cut out and turned upright, at the slap's ppi.
	Image *image.Gray
	// Quality is Assess on Image (zero when SlapOptions.NoQuality).
	Quality Result
}

// SlapResult is the outcome of SegmentSlap.
type SlapResult struct {
	Kind SlapKind
	// HandAngleDeg is the hand's rotation, clockwise on the image.
	HandAngleDeg float64
	// Fingers found, left to right on the image.
	Fingers []SlapFinger
	// Missing lists expected positions not found; Unexpected lists
	// positions found that were not expected (a finger the session had
	// excused); Extra counts fingertip-like regions beyond the slap's
	// fingers.
	Missing    []int
	Unexpected []int
	Extra      int
	// WrongHand is set when the fingers fit the other hand better than
	// the one asked for (left four placed for a right slap, or the
	// reverse); the positions are then those of the hand placed.
	WrongHand bool
	// Reasons an officer can act on.
	Reasons []string
}

// Slap reasons.
const (
	SlapReasonMissing   = "expected finger missing"
	SlapReasonExtra     = "more fingertips than expected"
	SlapReasonWrongHand = "wrong hand placed"
)

// SegmentSlap segments a slap image taken at ppi (only 500 ppi, the
// delivery resolution of slap scanners, is supported).
func SegmentSlap(img *image.Gray, ppi int, kind SlapKind, opts SlapOptions) (SlapResult, error) {
	res := SlapResult{Kind: kind}
	slots := SlapPositions(kind)
	if slots == nil {
		return res, fmt.Errorf("finger: slap kind %d: want right four (1), left four (2) or two thumbs (3)", int(kind))
	}
	if img == nil || img.Rect.Dx() < 4*slapBlock || img.Rect.Dy() < 4*slapBlock {
		return res, errors.New("finger: slap image missing or smaller than 32x32")
	}
	if ppi <= 0 {
		ppi = StandardPPI
	}
	if ppi != StandardPPI {
		return res, fmt.Errorf("finger: slap at %d ppi: only %d ppi slaps are segmented (ask the scanner for 500 ppi)", ppi, StandardPPI)
	}
	expected := opts.Expected
	if expected == nil {
		expected = slots
	}
	for _, p := range expected {
		if !slapContains(slots, p) && !slapContains(SlapPositions(slapOther(kind)), p) {
			return res, fmt.Errorf("finger: expected position %d is not in a %v slap", p, kind)
		}
	}

	fg, bw, bh := slapForeground(img)
	pts := make([][2]float64, 0, 4096)
	for by := range bh {
		for bx := range bw {
			if fg[by*bw+bx] {
				pts = append(pts, [2]float64{(float64(bx) + 0.5) * slapBlock, (float64(by) + 0.5) * slapBlock})
			}
		}
	}
	theta := slapHandAngle(pts)
	res.HandAngleDeg = theta
	cols := slapColumns(pts, theta)
	// keep the fingers: at most the slap's count, largest first
	sort.SliceStable(cols, func(i, j int) bool { return len(cols[i].pts) > len(cols[j].pts) })
	if len(cols) > len(slots) {
		res.Extra = len(cols) - len(slots)
		cols = cols[:len(slots)]
	}
	sort.SliceStable(cols, func(i, j int) bool { return cols[i].x0 < cols[j].x0 })

	tips := make([]slapTip, len(cols))
	for i, c := range cols {
		tips[i] = slapCut(c, theta)
	}
	// refine: the hand's angle is the mean of its fingers' own axes (the
	// splay of the fingers averages out), then measure again with it
	var sum float64
	var nAx int
	for _, t := range tips {
		if t.axis {
			sum += t.angle
			nAx++
		}
	}
	if nAx >= 2 {
		theta = sum / float64(nAx)
		res.HandAngleDeg = theta
		for i, c := range cols {
			tips[i] = slapCut(c, theta)
		}
	}
	r := theta * math.Pi / 180
	mid := (float64(img.Rect.Dx())*math.Cos(r) + float64(img.Rect.Dy())*math.Sin(r)) / 2
	hand, assign := slapAssign(kind, tips, mid)
	if hand != kind {
		res.WrongHand = true
	}
	placed := SlapPositions(hand)
	for i, t := range tips {
		// Found on the pixels from img's corner; reported in img's own
		// coordinates (a sub-image's Rect.Min need not be 0,0).
		o := img.Rect.Min
		f := SlapFinger{Position: placed[assign[i]], Box: t.box.Add(o), Center: t.center.Add(o), AngleDeg: t.angle,
			Outline: slapOutline(img, t)}
		for k := range f.Outline {
			f.Outline[k] = f.Outline[k].Add(o)
		}
		if opts.GeometryOnly {
			res.Fingers = append(res.Fingers, f)
			continue
		}
		f.Image = slapUpright(img, t)
		if !opts.NoQuality {
			q, err := Assess(f.Image, ppi)
			if err != nil {
				return res, fmt.Errorf("finger: scoring fingertip %d: %w", f.Position, err)
			}
			f.Quality = q
		}
		res.Fingers = append(res.Fingers, f)
	}
	found := map[int]bool{}
	for _, f := range res.Fingers {
		found[f.Position] = true
	}
	for _, p := range expected {
		if !found[p] {
			res.Missing = append(res.Missing, p)
		}
	}
	for _, f := range res.Fingers {
		if !slapContains(expected, f.Position) {
			res.Unexpected = append(res.Unexpected, f.Position)
		}
	}
	if res.WrongHand {
		res.Reasons = append(res.Reasons, SlapReasonWrongHand)
	}
	if len(res.Missing) > 0 && !res.WrongHand {
		res.Reasons = append(res.Reasons, SlapReasonMissing)
	}
	if res.Extra > 0 || (len(res.Unexpected) > 0 && !res.WrongHand) {
		res.Reasons = append(res.Reasons, SlapReasonExtra)
	}
	return res, nil
}

func slapContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func slapOther(k SlapKind) SlapKind {
	switch k {
	case SlapRightFour:
		return SlapLeftFour
	case SlapLeftFour:
		return SlapRightFour
	}
	return k
}

// slapForeground marks ridge blocks and closes the mask with a 3x3 element.
func slapForeground(img *image.Gray) ([]bool, int, int) {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	bw, bh := W/slapBlock, H/slapBlock
	raw := make([]bool, bw*bh)
	const n = slapBlock * slapBlock / 2
	for by := range bh {
		for bx := range bw {
			var s, s2 int
			// every other row: half the reads, the same verdict (ridges
			// cross the block whatever their direction)
			for y := by * slapBlock; y < (by+1)*slapBlock; y += 2 {
				row := img.Pix[y*img.Stride+bx*slapBlock : y*img.Stride+(bx+1)*slapBlock]
				for _, v := range row {
					s += int(v)
					s2 += int(v) * int(v)
				}
			}
			variance := float64(s2)/n - float64(s*s)/(n*n)
			raw[by*bw+bx] = variance > slapFgStd*slapFgStd
		}
	}
	morph := func(src []bool, dilate bool) []bool {
		dst := make([]bool, len(src))
		for by := range bh {
			for bx := range bw {
				v := !dilate
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						x, y := bx+dx, by+dy
						in := x >= 0 && y >= 0 && x < bw && y < bh && src[y*bw+x]
						if dilate && in {
							v = true
						} else if !dilate && !in {
							v = false
						}
					}
				}
				dst[by*bw+bx] = v
			}
		}
		return dst
	}
	return morph(morph(raw, true), false), bw, bh
}

// slapHandAngle returns the rotation (degrees clockwise) at which the
// fingers' projection across the hand has the most empty bins between its
// ends: fingertips are longer than wide, so they separate best when the
// projection runs square to them.
func slapHandAngle(pts [][2]float64) float64 {
	if len(pts) == 0 {
		return 0
	}
	best, bestLo, bestHi := -1, 0, 0
	// occupancy per bin, marked with the angle's index (no clearing)
	var ext float64
	for _, p := range pts {
		ext = math.Max(ext, math.Abs(p[0])+math.Abs(p[1]))
	}
	off := int(ext/slapBlock) + 2
	occ := make([]int, 2*off+1)
	for a := -slapMaxAngle; a <= slapMaxAngle; a++ {
		r := float64(a) * math.Pi / 180
		c, s := math.Cos(r), math.Sin(r)
		mark := a + slapMaxAngle + 1
		lo, hi, n := math.MaxInt, math.MinInt, 0
		for _, p := range pts {
			b := int(math.Floor((p[0]*c+p[1]*s)/slapBlock)) + off
			if occ[b] != mark {
				occ[b] = mark
				n++
			}
			lo, hi = min(lo, b), max(hi, b)
		}
		switch empty := hi - lo + 1 - n; {
		case empty > best:
			best, bestLo, bestHi = empty, a, a
		case empty == best && bestHi == a-1:
			bestHi = a
		}
	}
	return float64(bestLo+bestHi) / 2
}

type slapColumn struct {
	x0, x1 float64      // extent across the fingers, rotated frame
	pts    [][2]float64 // image coordinates of its blocks
}

// slapColumns cuts the projection at angle theta into finger columns.
func slapColumns(pts [][2]float64, theta float64) []slapColumn {
	r := theta * math.Pi / 180
	c, s := math.Cos(r), math.Sin(r)
	if len(pts) == 0 {
		return nil
	}
	minB, maxB := math.MaxInt, math.MinInt
	bins := make([]int, len(pts))
	for i, p := range pts {
		b := int(math.Floor((p[0]*c + p[1]*s) / slapBlock))
		bins[i] = b
		minB, maxB = min(minB, b), max(maxB, b)
	}
	hist := make([]int, maxB-minB+1)
	for _, b := range bins {
		hist[b-minB]++
	}
	type run struct{ lo, hi int } // bins [lo, hi)
	var runs []run
	for i := 0; i < len(hist); {
		if hist[i] == 0 {
			i++
			continue
		}
		j := i
		for j < len(hist) && hist[j] > 0 {
			j++
		}
		runs = append(runs, run{i, j})
		i = j
	}
	// split runs much wider than a fingertip at their deepest valley
	maxW := int(1.6 * slapTipWidth / slapBlock)
	for k := 0; k < len(runs); k++ {
		ru := runs[k]
		if ru.hi-ru.lo <= maxW {
			continue
		}
		w := ru.hi - ru.lo
		cut, low := -1, math.MaxInt
		for i := ru.lo + w/4; i < ru.hi-w/4; i++ {
			if hist[i] < low {
				cut, low = i, hist[i]
			}
		}
		if cut <= ru.lo {
			continue
		}
		runs = append(runs[:k+1], runs[k:]...)
		runs[k], runs[k+1] = run{ru.lo, cut}, run{cut, ru.hi}
		k--
	}
	var cols []slapColumn
	for _, ru := range runs {
		col := slapColumn{x0: float64(ru.lo+minB) * slapBlock, x1: float64(ru.hi+minB) * slapBlock}
		for i, p := range pts {
			if b := bins[i] - minB; b >= ru.lo && b < ru.hi {
				col.pts = append(col.pts, p)
			}
		}
		if len(col.pts)*slapBlock*slapBlock >= slapMinArea {
			cols = append(cols, col)
		}
	}
	return cols
}

// slapTip is one fingertip's geometry.
type slapTip struct {
	box    image.Rectangle
	center image.Point
	angle  float64 // degrees clockwise from up
	top    float64 // distal end along the finger axis (rotated frame, px)
	across float64 // centre across the fingers (rotated frame, px)
	w, h   float64 // size in its own upright frame
	axis   bool    // angle is the tip's own principal axis
}

// slapCut keeps the distal slapTipLen of a column and measures it.
func slapCut(c slapColumn, theta float64) slapTip {
	r := theta * math.Pi / 180
	cs, sn := math.Cos(r), math.Sin(r)
	top := math.Inf(1)
	for _, p := range c.pts {
		top = math.Min(top, -p[0]*sn+p[1]*cs)
	}
	var tip [][2]float64
	for _, p := range c.pts {
		if -p[0]*sn+p[1]*cs <= top+slapTipLen {
			tip = append(tip, p)
		}
	}
	var mx, my float64
	for _, p := range tip {
		mx += p[0]
		my += p[1]
	}
	mx /= float64(len(tip))
	my /= float64(len(tip))
	// principal axis: the finger's direction
	var sxx, syy, sxy float64
	for _, p := range tip {
		dx, dy := p[0]-mx, p[1]-my
		sxx += dx * dx
		syy += dy * dy
		sxy += dx * dy
	}
	// major axis angle from the x axis; the finger axis is "up" = -y
	phi := 0.5 * math.Atan2(2*sxy, sxx-syy) * 180 / math.Pi // -90..90 from x
	ang := phi - 90                                         // from up (clockwise positive, y down)
	for ang < theta-90 {
		ang += 180
	}
	for ang > theta+90 {
		ang -= 180
	}
	// a nearly round tip has no reliable axis: trust the hand's
	axis := true
	if ev := slapEigenRatio(sxx, syy, sxy); ev < 1.15 || math.Abs(ang-theta) > 25 {
		ang, axis = theta, false
	}
	a := ang * math.Pi / 180
	ca, sa := math.Cos(a), math.Sin(a)
	box := image.Rectangle{}
	var u0, u1, v0, v1 = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, p := range tip {
		b := image.Rect(int(p[0])-slapBlock/2, int(p[1])-slapBlock/2, int(p[0])+slapBlock/2, int(p[1])+slapBlock/2)
		if i == 0 {
			box = b
		} else {
			box = box.Union(b)
		}
		u := (p[0]-mx)*ca + (p[1]-my)*sa
		v := -(p[0]-mx)*sa + (p[1]-my)*ca
		u0, u1, v0, v1 = math.Min(u0, u), math.Max(u1, u), math.Min(v0, v), math.Max(v1, v)
	}
	return slapTip{
		box: box, center: image.Pt(int(math.Round(mx)), int(math.Round(my))), angle: ang,
		top: top, across: mx*cs + my*sn,
		w: 2*math.Max(-u0, u1) + slapBlock, h: 2*math.Max(-v0, v1) + slapBlock, axis: axis,
	}
}

func slapEigenRatio(sxx, syy, sxy float64) float64 {
	tr, det := sxx+syy, sxx*syy-sxy*sxy
	d := math.Sqrt(math.Max(tr*tr/4-det, 0))
	l1, l2 := tr/2+d, tr/2-d
	if l2 <= 0 {
		return math.Inf(1)
	}
	return math.Sqrt(l1 / l2)
}

// slapUpright samples the fingertip turned upright around its centre.
func slapUpright(img *image.Gray, t slapTip) *image.Gray {
	w, h := slapCutSize(t)
	out := image.NewGray(image.Rect(0, 0, w, h))
	a := t.angle * math.Pi / 180
	ca, sa := math.Cos(a), math.Sin(a)
	W, H := img.Rect.Dx(), img.Rect.Dy()
	for y := range h {
		for x := range w {
			u, v := float64(x)-float64(w)/2, float64(y)-float64(h)/2
			// upright frame -> image (a clockwise turn by the finger angle)
			sx := float64(t.center.X) + u*ca - v*sa
			sy := float64(t.center.Y) + u*sa + v*ca
			val := uint8(255)
			if sx >= 0 && sy >= 0 && sx < float64(W-1) && sy < float64(H-1) {
				ix, iy := int(sx), int(sy)
				fx, fy := sx-float64(ix), sy-float64(iy)
				p := img.Pix[iy*img.Stride+ix:]
				q := img.Pix[(iy+1)*img.Stride+ix:]
				val = uint8((1-fy)*((1-fx)*float64(p[0])+fx*float64(p[1])) + fy*((1-fx)*float64(q[0])+fx*float64(q[1])) + 0.5)
			}
			out.Pix[y*w+x] = val
		}
	}
	return out
}

// slapCutSize is the size of the upright fingertip image cut for t.
func slapCutSize(t slapTip) (w, h int) {
	w, h = int(math.Ceil(t.w)), int(math.Ceil(t.h))
	return min(max(w, 34), 1000), min(max(h, 34), 1000)
}

// slapOutline returns the corners on img of the region slapUpright cuts
// for t (the same turn about the tip's centre), clamped to the image.
func slapOutline(img *image.Gray, t slapTip) [4]image.Point {
	w, h := slapCutSize(t)
	a := t.angle * math.Pi / 180
	ca, sa := math.Cos(a), math.Sin(a)
	W, H := img.Rect.Dx(), img.Rect.Dy()
	var out [4]image.Point
	for i, c := range [4][2]float64{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}} {
		u, v := c[0]*float64(w)/2, c[1]*float64(h)/2
		x := float64(t.center.X) + u*ca - v*sa
		y := float64(t.center.Y) + u*sa + v*ca
		out[i] = image.Pt(min(max(int(math.Round(x)), 0), W-1), min(max(int(math.Round(y)), 0), H-1))
	}
	return out
}

// slapAssign fits the fingertips, left to right, to the slots of the
// asked-for hand and of the other hand, and returns the cheaper fit: the
// hand and, per fingertip, its slot index in SlapPositions(hand).
func slapAssign(kind SlapKind, tips []slapTip, mid float64) (SlapKind, []int) {
	n := len(tips)
	best, bestHand := math.Inf(1), kind
	var bestSlots []int
	hands := []SlapKind{kind}
	if kind != SlapTwoThumbs && n >= 2 {
		hands = append(hands, slapOther(kind))
	}
	nslots := len(SlapPositions(kind))
	for hi, hand := range hands {
		// every increasing choice of n slots out of nslots
		slapCombos(nslots, n, func(slots []int) {
			c := slapCost(hand, tips, slots)
			if n == 1 {
				// one fingertip has no neighbours to be placed by: take
				// the hand as centred on the platen
				c += slapSingleCost(hand, tips[0], slots[0], mid)
			}
			if hi > 0 {
				c += slapWrongHandPenalty
			}
			if c < best {
				best, bestHand = c, hand
				bestSlots = append(bestSlots[:0], slots...)
			}
		})
	}
	if bestSlots == nil { // more tips than slots cannot happen (trimmed)
		bestSlots = make([]int, n)
	}
	return bestHand, bestSlots
}

// slapSingleCost places a lone fingertip by its distance from where its
// slot lies when the hand is centred on the platen (mid, across the hand).
func slapSingleCost(hand SlapKind, t slapTip, slot int, mid float64) float64 {
	nslots := len(SlapPositions(hand))
	pitch := float64(slapPitch)
	if hand == SlapTwoThumbs {
		pitch = 2 * slapPitch
	}
	d := t.across - (mid + pitch*(float64(slot)-float64(nslots-1)/2))
	return d * d
}

// slapWrongHandPenalty (px²) keeps the asked-for hand unless the other
// fits clearly better: about a 4 mm stagger mismatch on one finger.
const slapWrongHandPenalty = 80 * 80

func slapCombos(nslots, k int, f func([]int)) {
	cur := make([]int, 0, k)
	var rec func(start int)
	rec = func(start int) {
		if len(cur) == k {
			f(cur)
			return
		}
		for s := start; s <= nslots-(k-len(cur)); s++ {
			cur = append(cur, s)
			rec(s + 1)
			cur = cur[:len(cur)-1]
		}
	}
	rec(0)
}

// slapCost is the squared misfit (px²) of the fingertips to slots: the
// spacing across the fingers against slapPitch per slot step, and, for
// four-finger slaps, the distal ends against the hand's stagger.
func slapCost(hand SlapKind, tips []slapTip, slots []int) float64 {
	n := len(tips)
	if n == 0 {
		return 0
	}
	pitch := float64(slapPitch)
	if hand == SlapTwoThumbs {
		pitch = 2 * slapPitch // two hands side by side
	}
	// across: tips[i].across ≈ a + pitch*slot
	var a float64
	for i, t := range tips {
		a += t.across - pitch*float64(slots[i])
	}
	a /= float64(n)
	var cost float64
	for i, t := range tips {
		d := t.across - a - pitch*float64(slots[i])
		cost += d * d
	}
	if hand == SlapTwoThumbs || n < 2 {
		return cost
	}
	stag := func(slot int) float64 {
		if hand == SlapLeftFour { // little finger at the left
			return slapStagger[3-slot]
		}
		return slapStagger[slot]
	}
	var b float64
	for i, t := range tips {
		b += t.top - stag(slots[i])
	}
	b /= float64(n)
	for i, t := range tips {
		d := t.top - b - stag(slots[i])
		cost += d * d
	}
	return cost
}
