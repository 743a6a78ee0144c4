package finger

import (
	"fmt"
	"image"
	"sort"
	"testing"

	"github.com/openenroll/stationd/firmware-sim/hidsim"
	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

func rotateGray(img *image.Gray, deg float64, dx, dy int) *image.Gray {
	t := slapTip{center: image.Pt(img.Rect.Dx()/2+dx, img.Rect.Dy()/2+dy), angle: deg, w: float64(img.Rect.Dx()), h: float64(img.Rect.Dy())}
	return slapUpright(img, t)
}

// TestSimilaritySelf: a fingertip matches itself turned and moved within
// the search range, and not a quarter turn of itself (a different flow).
func TestSimilaritySelf(t *testing.T) {
	tip, err := hidsim.QuickSource()(4, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := NewOrientationField(tip)
	if s := Similarity(a, NewOrientationField(rotateGray(tip, 10, 20, -15))); s < SameFingerThreshold {
		t.Errorf("same fingertip turned 10° and shifted: similarity %.3f < %.2f", s, SameFingerThreshold)
	}
	if s := Similarity(a, NewOrientationField(image.NewGray(image.Rect(0, 0, 100, 100)))); s != -1 {
		t.Errorf("blank image: similarity %.3f, want -1", s)
	}
}

type matchPrint struct {
	id  uint64
	pos int
	of  OrientationField
}

func synthField(t *testing.T, id uint64, pos int, single bool, seed uint64) matchPrint {
	imp := synthfinger.GoodImpression()
	imp.Seed = seed
	if single {
		imp.RotationDeg = 6
	} else {
		// a slap fingertip: smaller, lighter contact, turned the other way
		imp.Width, imp.Height, imp.Contact, imp.RotationDeg, imp.Noise = 320, 440, 0.75, -5, 3
		imp.OffsetX, imp.OffsetY = 0.03, -0.04
	}
	img, _, err := synthfinger.Print(id, pos, imp)
	if err != nil {
		t.Fatal(err)
	}
	return matchPrint{id, pos, NewOrientationField(img)}
}

// TestSlapMatchErrorRates measures the similarity on
// synthetic identities: a slap-like fingertip impression against a single
// capture impression, of the same finger (genuine) and of other fingers of
// the same person or the same finger of other people (impostors). It
// prints the false non-match and false match rates at SameFingerThreshold
// and the equal error rate.
func TestSlapMatchErrorRates(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("synthfinger masters are too slow under -race / -short; run go test without -race")
	}
	ids := []uint64{41, 42, 43} // not the identities the threshold was chosen on
	fingers := []int{2, 3, 4, 5}
	var slapP, singleP []matchPrint
	for _, id := range ids {
		for _, f := range fingers {
			slapP = append(slapP, synthField(t, id, f, false, 11))
			singleP = append(singleP, synthField(t, id, f, true, 12))
		}
	}
	var gen, imp []float64
	var sameIDImp []float64
	for _, a := range slapP {
		for _, b := range singleP {
			s := Similarity(a.of, b.of)
			switch {
			case a.id == b.id && a.pos == b.pos:
				gen = append(gen, s)
			case a.id == b.id || a.pos == b.pos:
				imp = append(imp, s)
				if a.id == b.id {
					sameIDImp = append(sameIDImp, s)
				}
			}
		}
	}
	rate := func(v []float64, above bool) float64 {
		n := 0
		for _, s := range v {
			if (s >= SameFingerThreshold) == above {
				n++
			}
		}
		return float64(n) / float64(len(v))
	}
	fnmr, fmr := rate(gen, false), rate(imp, true)
	// equal error rate: sweep the threshold over all scores
	all := append(append([]float64(nil), gen...), imp...)
	sort.Float64s(all)
	eer, eerT := 1.0, 0.0
	for _, th := range all {
		fn, fm := 0, 0
		for _, s := range gen {
			if s < th {
				fn++
			}
		}
		for _, s := range imp {
			if s >= th {
				fm++
			}
		}
		a, b := float64(fn)/float64(len(gen)), float64(fm)/float64(len(imp))
		if d := max(a, b); d < eer {
			eer, eerT = d, th
		}
	}
	t.Logf("similarity on %d synthetic identities x %d fingers: %d genuine, %d impostor pairs (%d same person, other finger)", len(ids), len(fingers), len(gen), len(imp), len(sameIDImp))
	t.Logf("at threshold %.2f: FNMR %.1f%%, FMR %.1f%% (same person other finger %.1f%%); EER %.1f%% at %.3f",
		SameFingerThreshold, 100*fnmr, 100*fmr, 100*rate(sameIDImp, true), 100*eer, eerT)
	t.Logf("genuine %s", fmtScores(gen))
	t.Logf("impostor %s", fmtScores(imp))
	if fnmr > 0.25 || fmr > 0.15 {
		t.Errorf("error rates too high for a sequence check: FNMR %.2f FMR %.2f", fnmr, fmr)
	}
}

func fmtScores(v []float64) string {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	q := func(p float64) float64 { return s[int(p*float64(len(s)-1))] }
	return fmt.Sprintf("min %.3f q25 %.3f median %.3f q75 %.3f max %.3f", q(0), q(0.25), q(0.5), q(0.75), q(1))
}

// TestCheckSequence: a slap with the index finger put down twice is
// flagged as a repeated finger; single captures of the right fingers
// match, shuffled ones are flagged as a wrong sequence.
func TestCheckSequence(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("synthfinger masters are too slow under -race / -short; run go test without -race")
	}
	const id = 21
	good, _, err := hidsim.RenderSlap(hidsim.SlapSpec{Identity: id, Kind: hidsim.KindRightFour, RotationDeg: 12, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := hidsim.RenderSlap(hidsim.SlapSpec{Identity: id, Kind: hidsim.KindRightFour, RotationDeg: -8, Seed: 5, Repeat: 1 << 2})
	if err != nil {
		t.Fatal(err)
	}
	segGood, err := SegmentSlap(good, 500, SlapRightFour, SlapOptions{NoQuality: true})
	if err != nil {
		t.Fatal(err)
	}
	segRep, err := SegmentSlap(rep, 500, SlapRightFour, SlapOptions{NoQuality: true})
	if err != nil {
		t.Fatal(err)
	}
	r := CheckSequence([]SlapResult{segRep}, nil)
	found := false
	for _, is := range r.Issues {
		if is.Kind == IssueRepeated && is.Positions == [2]int{2, 4} {
			found = true
		}
	}
	if !found {
		t.Errorf("index put down as ring not flagged: %+v", r.Issues)
	}
	r = CheckSequence([]SlapResult{segGood}, nil)
	if len(r.Issues) != 0 {
		t.Errorf("four distinct fingers flagged: %+v", r.Issues)
	}
	single := func(pos, actual int) SingleCapture {
		imp := synthfinger.GoodImpression()
		imp.Seed = 77
		img, _, err := synthfinger.Print(id, actual, imp)
		if err != nil {
			t.Fatal(err)
		}
		return SingleCapture{Position: pos, Image: img}
	}
	right := []SingleCapture{single(2, 2), single(3, 3), single(4, 4), single(5, 5)}
	if r := CheckSequence([]SlapResult{segGood}, right); r.WrongSequence {
		t.Errorf("matching singles flagged: %+v", r.Issues)
	} else {
		t.Logf("matching singles: %d comparisons, issues %+v", r.Compared, r.Issues)
	}
	shuffled := []SingleCapture{single(2, 3), single(3, 4), single(4, 5), single(5, 2)}
	if r := CheckSequence([]SlapResult{segGood}, shuffled); !r.WrongSequence {
		t.Errorf("shuffled singles not flagged: %+v", r.Issues)
	}
}
