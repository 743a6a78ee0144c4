package finger

import "math"

// profN is the number of bins of a block's ridge profile: one per pixel
// across the 32x32 feature block.
const profN = fblk

// Ridge band at 500 ppi: inter-ridge distances of fingers run from about
// 5 px (children) to about 15 px (thumbs of large adults); the DFT peak is
// searched over periods 4-16 px (bins 2..8 of a 32-bin profile).
const (
	fdaKMin = 2
	fdaKMax = 8
)

var dftCos, dftSin [profN/2 + 1][profN]float64

func init() {
	for k := 0; k <= profN/2; k++ {
		for n := 0; n < profN; n++ {
			a := 2 * math.Pi * float64(k*n) / profN
			dftCos[k][n] = math.Cos(a)
			dftSin[k][n] = math.Sin(a)
		}
	}
}

// blockFeat is what one 32x32 foreground block contributes.
type blockFeat struct {
	bx, by    int     // 32-block coordinates
	ocl       float64 // orientation certainty level, 1 - λmin/λmax
	coh       float64 // coherence, (λmax-λmin)/(λmax+λmin)
	theta     float64 // ridge orientation, radians in [0, π)
	lcs       float64 // local clarity score, 0..1
	fda       float64 // frequency domain analysis, 0..1
	period    float64 // ridge period in px from the DFT peak (0 if none)
	wr, wv    float64 // mean ridge and valley widths in px (0 if none)
	ridgeLike bool    // a clear ridge pattern at a fingerprint's scale
	mean, std float64 // raw grey level mean and standard deviation
}

// analyseBlock fills the orientation and ridge-profile features of the 32x32
// block whose top-left pixel is (x0, y0). a, b, c are the structure tensor
// sums (gx², gy², gx·gy) over the block.
func (w *work) analyseBlock(f *blockFeat, x0, y0 int, a, b, c float64) {
	tr := a + b
	disc := math.Sqrt((a-b)*(a-b) + 4*c*c)
	lmax, lmin := (tr+disc)/2, (tr-disc)/2
	if lmax > 0 {
		f.ocl = 1 - lmin/lmax
		f.coh = disc / tr
	}
	// Dominant gradient direction; ridges run perpendicular to it.
	phi := 0.5 * math.Atan2(2*c, a-b)
	th := phi + math.Pi/2
	if th >= math.Pi {
		th -= math.Pi
	}
	f.theta = th
	nx, ny := math.Cos(phi), math.Sin(phi)

	// Profile across the ridges: grey level averaged along the ridge
	// direction, binned by the signed distance d from the block centre
	// along the normal (ISO/IEC 29794-4 LCS/FDA take the same profile from a
	// rotated block).
	var sum [profN]float64
	var cnt [profN]int
	const half = fblk / 2
	cx, cy := float64(x0)+half-0.5, float64(y0)+half-0.5
	W := w.w
	for y := y0; y < y0+fblk; y++ {
		row := w.raw[y*W:]
		d := (float64(x0)-cx)*nx + (float64(y)-cy)*ny + half
		for x := x0; x < x0+fblk; x++ {
			if d >= 0 && d < profN {
				k := int(d)
				sum[k] += float64(row[x])
				cnt[k]++
			}
			d += nx
		}
	}
	var p [profN]float64
	var s, ss float64
	for k := range profN {
		if cnt[k] > 0 {
			p[k] = sum[k] / float64(cnt[k])
		} else if k > 0 {
			p[k] = p[k-1]
		}
		s += p[k]
	}
	// Linear trend of the profile is the ridge/valley threshold (it follows
	// an illumination slope across the block).
	mk := float64(profN-1) / 2
	mp := s / profN
	var sxy, sxx float64
	for k := range profN {
		sxy += (float64(k) - mk) * (p[k] - mp)
		sxx += (float64(k) - mk) * (float64(k) - mk)
	}
	slope := sxy / sxx
	var tau [profN]float64
	var ridge [profN]bool
	for k := range profN {
		tau[k] = mp + slope*(float64(k)-mk)
		ridge[k] = p[k] < tau[k]
		ss += (p[k] - tau[k]) * (p[k] - tau[k])
	}
	_ = ss

	// Ridge and valley widths from the threshold crossings of the profile,
	// placed with linear interpolation between bin centres; only intervals
	// between two crossings count (the end pieces are cut by the block).
	var cross [profN]float64
	nc := 0
	for k := 0; k+1 < profN; k++ {
		if ridge[k] != ridge[k+1] {
			a, b := p[k]-tau[k], p[k+1]-tau[k+1]
			t := 0.5
			if a != b {
				t = a / (a - b)
			}
			cross[nc] = float64(k) + t
			nc++
		}
	}
	var nr, nv int
	var lr, lv float64
	for i := 0; i+1 < nc; i++ {
		width := cross[i+1] - cross[i]
		// The bin just after crossing i tells which region follows.
		if ridge[int(cross[i])+1] {
			nr++
			lr += width
		} else {
			nv++
			lv += width
		}
	}
	if nr > 0 {
		f.wr = lr / float64(nr)
	}
	if nv > 0 {
		f.wv = lv / float64(nv)
	}

	// FDA: share of the profile's spectrum at the dominant ridge frequency
	// (NFIQ 2 FDA: the peak plus 0.3 of each neighbour over the sum of
	// amplitudes of the non-DC half spectrum).
	var amp [profN/2 + 1]float64
	var total float64
	for k := 1; k <= profN/2; k++ {
		var re, im float64
		for n := range profN {
			v := p[n] - mp
			re += v * dftCos[k][n]
			im += v * dftSin[k][n]
		}
		amp[k] = math.Hypot(re, im)
		total += amp[k]
	}
	kmax := fdaKMin
	for k := fdaKMin + 1; k <= fdaKMax; k++ {
		if amp[k] > amp[kmax] {
			kmax = k
		}
	}
	if total > 0 {
		f.fda = (amp[kmax] + 0.3*(amp[kmax-1]+amp[kmax+1])) / total
		// Sub-bin peak by a parabola through the three amplitudes.
		l, m, r := amp[kmax-1], amp[kmax], amp[kmax+1]
		den := l - 2*m + r
		kk := float64(kmax)
		if den < 0 {
			kk += 0.5 * (l - r) / den
		}
		f.period = profN / kk
		// Where the crossings give a full ridge+valley pair and agree with
		// the spectrum, they are the finer estimate (the 32-bin DFT leaks
		// for periods that do not divide 32).
		if nr > 0 && nv > 0 {
			pc := f.wr + f.wv
			if math.Abs(pc-f.period) < 0.2*f.period {
				f.period = pc
			}
		}
	}

	// LCS: pixels classified by their bin (ridge or valley region) against
	// their own grey level versus the threshold; α = dark pixels in valley
	// regions, β = bright pixels in ridge regions, LCS = 1 - (α+β)/2, zero
	// when the ridge or valley widths are not those of a finger
	// (ISO/IEC 29794-4 local clarity).
	period := f.wr + f.wv
	if nr == 0 || nv == 0 || period < 4 || period > 20 || f.wr < 1.5 || f.wv < 1.5 {
		f.lcs = 0
	} else {
		var vr, vd, rr, rb int
		for y := y0; y < y0+fblk; y++ {
			row := w.raw[y*W:]
			d := (float64(x0)-cx)*nx + (float64(y)-cy)*ny + half
			for x := x0; x < x0+fblk; x++ {
				if d >= 0 && d < profN {
					k := int(d)
					v := float64(row[x])
					if ridge[k] {
						rr++
						if v >= tau[k] {
							rb++
						}
					} else {
						vr++
						if v < tau[k] {
							vd++
						}
					}
				}
				d += nx
			}
		}
		alpha := float64(vd) / float64(max(vr, 1))
		beta := float64(rb) / float64(max(rr, 1))
		f.lcs = 1 - (alpha+beta)/2
	}
	f.ridgeLike = f.lcs >= ridgeLCSMin && f.fda >= ridgeFDAMin && f.ocl >= ridgeOCLMin &&
		f.period >= 4 && f.period <= 16
}
