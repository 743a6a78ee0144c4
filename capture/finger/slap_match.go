package finger

import (
	"image"
	"math"
)

// Sequence check for slaps: are the fingers of a slap distinct, and is each
// the finger the session thinks it is?
//
// The similarity is a documented simpler stand-in for a minutiae matcher,
// in two stages:
//
//  1. Alignment by orientation field: each fingertip's ridge orientation is
//     estimated per 8x8 block from the gradient structure tensor over 24x24
//     px, as a doubled-angle vector weighted by its coherence (the
//     representation of Bazen & Gerez, "Systematic methods for the
//     computation of the directional fields and singular points of
//     fingerprints", 2002). Rotations of ±SimMaxRotation degrees and shifts
//     of ±SimMaxShift blocks are tried; the alignment with the highest
//     normalised inner product of the overlapping vectors (overlap at least
//     simMinOverlap of the smaller print) wins. Orientation alone does not
//     tell fingers apart (different fingers with the same flow score up to
//     0.975 against 0.967-0.992 for the same finger on synthetic prints).
//  2. Ridge correlation: near that alignment (±2°, ±6 px), the best
//     normalised cross-correlation of the two images, each block normalised
//     to zero mean and unit variance, over their common foreground. Ridges
//     of one finger line up over the whole overlap; those of two fingers
//     with a similar flow do so only in patches. This is the similarity.
//
// Measured by TestSlapMatchErrorRates (slap-like fingertip impression
// against a single-capture impression, synthfinger identities 31-34, used to
// choose the threshold): genuine 0.148-0.373, impostors 0.029-0.166, equal
// error rate 4.2 %. Elastic distortion keeps genuine scores low: a
// minutiae matcher would do better, and real prints distort more than
// these synthetic ones.

// Matcher parameters.
const (
	simBlock       = 8
	SimMaxRotation = 21   // degrees searched either way, step simRotStep
	simRotStep     = 3    // degrees
	SimMaxShift    = 12   // blocks (96 px at 500 ppi) searched either way
	simMinOverlap  = 0.4  // share of the smaller print's foreground blocks
	simFgStd       = 15   // block grey-level std of ridge area (as slapFgStd)
	simMinCoh      = 0.05 // coherence below which a block carries no orientation
)

// SameFingerThreshold is the similarity above which two fingertips are
// taken to be the same finger: the equal-error point on synthetic
// identities 31-34 (see above); TestSlapMatchErrorRates measures it on
// other identities.
const SameFingerThreshold = 0.15

// OrientationField is a fingertip's block orientation field.
type OrientationField struct {
	Cols, Rows int
	// V holds per block the doubled-angle vector times coherence (cos 2θ,
	// sin 2θ) and whether the block is foreground.
	V  [][2]float32
	Fg []bool
	n  int
	// norm is the image with each foreground block's mean removed and its
	// standard deviation divided out (0 elsewhere), for the ridge stage.
	norm []float32
	w, h int
}

// NewOrientationField measures img's orientation field (500 ppi).
func NewOrientationField(img *image.Gray) OrientationField {
	W, H := img.Rect.Dx(), img.Rect.Dy()
	cols, rows := W/simBlock, H/simBlock
	of := OrientationField{Cols: cols, Rows: rows, V: make([][2]float32, cols*rows), Fg: make([]bool, cols*rows),
		norm: make([]float32, W*H), w: W, h: H}
	if cols < 3 || rows < 3 {
		return of
	}
	px := func(x, y int) float64 { return float64(img.Pix[y*img.Stride+x]) }
	// gradient sums per block
	gxx := make([]float64, cols*rows)
	gyy := make([]float64, cols*rows)
	gxy := make([]float64, cols*rows)
	for by := range rows {
		for bx := range cols {
			var s, s2, xx, yy, xy float64
			for y := by * simBlock; y < (by+1)*simBlock; y++ {
				for x := bx * simBlock; x < (bx+1)*simBlock; x++ {
					v := px(x, y)
					s += v
					s2 += v * v
					if x > 0 && y > 0 && x < W-1 && y < H-1 {
						gx := px(x+1, y) - px(x-1, y)
						gy := px(x, y+1) - px(x, y-1)
						xx += gx * gx
						yy += gy * gy
						xy += gx * gy
					}
				}
			}
			const n = simBlock * simBlock
			i := by*cols + bx
			mean, vr := s/n, s2/n-(s/n)*(s/n)
			of.Fg[i] = vr > simFgStd*simFgStd
			if of.Fg[i] {
				sd := math.Sqrt(vr)
				for y := by * simBlock; y < (by+1)*simBlock; y++ {
					for x := bx * simBlock; x < (bx+1)*simBlock; x++ {
						of.norm[y*W+x] = float32((px(x, y) - mean) / sd)
					}
				}
			}
			gxx[i], gyy[i], gxy[i] = xx, yy, xy
		}
	}
	// smooth over 3x3 blocks (a 24x24 window: two to three ridges)
	for by := range rows {
		for bx := range cols {
			i := by*cols + bx
			if !of.Fg[i] {
				continue
			}
			var xx, yy, xy float64
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					x, y := bx+dx, by+dy
					if x >= 0 && y >= 0 && x < cols && y < rows {
						j := y*cols + x
						xx, yy, xy = xx+gxx[j], yy+gyy[j], xy+gxy[j]
					}
				}
			}
			den := xx + yy
			if den <= 0 {
				of.Fg[i] = false
				continue
			}
			// gradient doubled angle; ridges run square to it, which only
			// flips the sign of the doubled-angle vector for all blocks alike
			c, s := (xx-yy)/den, 2*xy/den
			if math.Hypot(c, s) < simMinCoh {
				of.Fg[i] = false
				continue
			}
			of.V[i] = [2]float32{float32(c), float32(s)}
			of.n++
		}
	}
	return of
}

// Similarity compares two fingertips' fields: the orientation stage finds
// the alignment, the ridge stage scores it (see the notes above).
func Similarity(a, b OrientationField) float64 {
	_, rot, tx, ty, ok := orientAlign(a, b)
	if !ok {
		return -1
	}
	return ridgeScore(a, b, rot, tx, ty)
}

// OrientationSimilarity is the orientation stage's own best score.
func OrientationSimilarity(a, b OrientationField) float64 {
	s, _, _, _, ok := orientAlign(a, b)
	if !ok {
		return -1
	}
	return s
}

// orientAlign returns the best orientation-field score and its alignment
// (rotation in degrees, shift in blocks).
func orientAlign(a, b OrientationField) (best float64, bestRot, bestTx, bestTy int, ok bool) {
	if a.n == 0 || b.n == 0 {
		return -1, 0, 0, 0, false
	}
	type blk struct {
		x, y float64
		v    [2]float64
	}
	var as []blk
	cx, cy := float64(a.Cols-1)/2, float64(a.Rows-1)/2
	for y := range a.Rows {
		for x := range a.Cols {
			i := y*a.Cols + x
			if a.Fg[i] {
				as = append(as, blk{float64(x) - cx, float64(y) - cy, [2]float64{float64(a.V[i][0]), float64(a.V[i][1])}})
			}
		}
	}
	bcx, bcy := float64(b.Cols-1)/2, float64(b.Rows-1)/2
	minOv := int(simMinOverlap * float64(min(a.n, b.n)))
	best = -1.0
	xs := make([]int, len(as))
	ys := make([]int, len(as))
	vs := make([][2]float64, len(as))
	for rot := -SimMaxRotation; rot <= SimMaxRotation; rot += simRotStep {
		r := float64(rot) * math.Pi / 180
		cr, sr := math.Cos(r), math.Sin(r)
		c2, s2 := math.Cos(2*r), math.Sin(2*r)
		for k, p := range as {
			xs[k] = int(math.Round(p.x*cr - p.y*sr + bcx))
			ys[k] = int(math.Round(p.x*sr + p.y*cr + bcy))
			vs[k] = [2]float64{p.v[0]*c2 - p.v[1]*s2, p.v[0]*s2 + p.v[1]*c2}
		}
		for ty := -SimMaxShift; ty <= SimMaxShift; ty++ {
			for tx := -SimMaxShift; tx <= SimMaxShift; tx++ {
				var dot, na, nb float64
				ov := 0
				for k := range as {
					x, y := xs[k]+tx, ys[k]+ty
					if x < 0 || y < 0 || x >= b.Cols || y >= b.Rows {
						continue
					}
					j := y*b.Cols + x
					if !b.Fg[j] {
						continue
					}
					bv := b.V[j]
					dot += vs[k][0]*float64(bv[0]) + vs[k][1]*float64(bv[1])
					na += vs[k][0]*vs[k][0] + vs[k][1]*vs[k][1]
					nb += float64(bv[0])*float64(bv[0]) + float64(bv[1])*float64(bv[1])
					ov++
				}
				if ov < minOv || na == 0 || nb == 0 {
					continue
				}
				if s := dot / math.Sqrt(na*nb); s > best {
					best, bestRot, bestTx, bestTy, ok = s, rot, tx, ty, true
				}
			}
		}
	}
	return best, bestRot, bestTx, bestTy, ok
}

// Ridge stage search around the orientation alignment: the block grid
// quantises the shift to 8 px and the rotation to 3°.
const (
	ridgeShift   = 6 // px either way (two thirds of a ridge period)
	ridgeRotStep = 1 // degrees
	ridgeRot     = 2 // degrees either way
	ridgeSample  = 2 // every other pixel in x and y
)

// ridgeScore is the best normalised cross-correlation of the two
// block-normalised images near the given alignment, over their common
// foreground: ridges of one finger line up, those of different fingers do
// not, whatever their flow.
func ridgeScore(a, b OrientationField, rot, tx, ty int) float64 {
	acx, acy := float64(a.Cols)*simBlock/2, float64(a.Rows)*simBlock/2
	bcx := float64(b.Cols)*simBlock/2 + float64(tx*simBlock)
	bcy := float64(b.Rows)*simBlock/2 + float64(ty*simBlock)
	type sample struct {
		u, v float64
		val  float32
	}
	var as []sample
	for y := 0; y < a.h; y += ridgeSample {
		for x := 0; x < a.w; x += ridgeSample {
			if v := a.norm[y*a.w+x]; v != 0 {
				as = append(as, sample{float64(x) - acx, float64(y) - acy, v})
			}
		}
	}
	if len(as) == 0 {
		return -1
	}
	minN := int(simMinOverlap * float64(min(len(as), b.n*simBlock*simBlock/(ridgeSample*ridgeSample))))
	best := -1.0
	bx := make([]int, len(as))
	by := make([]int, len(as))
	for dr := -ridgeRot; dr <= ridgeRot; dr += ridgeRotStep {
		r := float64(rot+dr) * math.Pi / 180
		cr, sr := math.Cos(r), math.Sin(r)
		for k, p := range as {
			bx[k] = int(math.Round(p.u*cr - p.v*sr + bcx))
			by[k] = int(math.Round(p.u*sr + p.v*cr + bcy))
		}
		for dy := -ridgeShift; dy <= ridgeShift; dy++ {
			for dx := -ridgeShift; dx <= ridgeShift; dx++ {
				var sab, saa, sbb float64
				n := 0
				for k, p := range as {
					x, y := bx[k]+dx, by[k]+dy
					if x < 0 || y < 0 || x >= b.w || y >= b.h {
						continue
					}
					w := b.norm[y*b.w+x]
					if w == 0 {
						continue
					}
					sab += float64(p.val * w)
					saa += float64(p.val * p.val)
					sbb += float64(w * w)
					n++
				}
				if n < minN || saa == 0 || sbb == 0 {
					continue
				}
				if c := sab / math.Sqrt(saa*sbb); c > best {
					best = c
				}
			}
		}
	}
	return best
}

// SingleCapture is a single-finger capture of the same session.
type SingleCapture struct {
	Position int
	Image    *image.Gray // 500 ppi
}

// SequenceIssue is one problem the sequence check found.
type SequenceIssue struct {
	// Kind is "repeated finger" (two fingertips of the slaps are the same
	// finger) or "single mismatch" (a slap fingertip does not match the
	// single capture of its position).
	Kind       string
	Positions  [2]int
	Similarity float64
}

// Sequence issue kinds.
const (
	IssueRepeated       = "repeated finger"
	IssueSingleMismatch = "single mismatch"
)

// SequenceReport is the outcome of CheckSequence.
type SequenceReport struct {
	Issues []SequenceIssue
	// WrongSequence is set when most fingertips that have a single
	// capture fail to match it (a wrong hand or a shuffled order).
	WrongSequence bool
	Compared      int
}

// CheckSequence compares the fingertips of one or more segmented slaps
// pairwise (a repeated finger), and each with the single capture of the
// same position when there is one.
func CheckSequence(slaps []SlapResult, singles []SingleCapture) SequenceReport {
	type tip struct {
		pos int
		of  OrientationField
	}
	var tips []tip
	for _, s := range slaps {
		for _, f := range s.Fingers {
			if f.Image != nil {
				tips = append(tips, tip{f.Position, NewOrientationField(f.Image)})
			}
		}
	}
	var rep SequenceReport
	for i := range tips {
		for j := i + 1; j < len(tips); j++ {
			s := Similarity(tips[i].of, tips[j].of)
			rep.Compared++
			if s >= SameFingerThreshold {
				rep.Issues = append(rep.Issues, SequenceIssue{IssueRepeated, [2]int{tips[i].pos, tips[j].pos}, s})
			}
		}
	}
	withSingle, bad := 0, 0
	for _, sc := range singles {
		if sc.Image == nil {
			continue
		}
		sof := NewOrientationField(sc.Image)
		for _, t := range tips {
			if t.pos != sc.Position {
				continue
			}
			s := Similarity(t.of, sof)
			rep.Compared++
			withSingle++
			if s < SameFingerThreshold {
				bad++
				rep.Issues = append(rep.Issues, SequenceIssue{IssueSingleMismatch, [2]int{t.pos, sc.Position}, s})
			}
		}
	}
	rep.WrongSequence = withSingle > 0 && 2*bad > withSingle
	return rep
}
