package finger

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"math"
	"sync"
	"testing"

	"github.com/openenroll/stationd/firmware-sim/hidsim"
)

// quickTips caches the procedural fingertips, which depend only on the
// identity and the finger.
var quickTips = struct {
	sync.Mutex
	m map[[2]uint64]*image.Gray
}{m: map[[2]uint64]*image.Gray{}}

func cachedQuick() hidsim.FingerSource {
	src := hidsim.QuickSource()
	return func(id uint64, pos int, seed uint64) (*image.Gray, error) {
		k := [2]uint64{id, uint64(pos)}
		quickTips.Lock()
		img, ok := quickTips.m[k]
		quickTips.Unlock()
		if ok {
			return img, nil
		}
		img, err := src(id, pos, 1)
		if err != nil {
			return nil, err
		}
		quickTips.Lock()
		quickTips.m[k] = img
		quickTips.Unlock()
		return img, nil
	}
}

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	ia := float64(in.Dx() * in.Dy())
	u := float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ia
	if u <= 0 {
		return 0
	}
	return ia / u
}

// Tolerances of the segmentation tests (500 ppi): a fingertip is found
// when its segmented centre is within slapTolCentre px (2.5 mm) of the
// true pad centre's ink centroid and its box overlaps the true ink box by
// IoU >= slapTolIoU; the hand angle is within slapTolAngle degrees.
const (
	slapTolCentre = 50
	slapTolIoU    = 0.7
	slapTolAngle  = 6
)

type slapCheck struct {
	maxCentre, minIoU, maxAngle float64
}

func checkSlap(t *testing.T, res SlapResult, tr hidsim.SlapTruth, st *slapCheck) {
	t.Helper()
	sp := tr.Spec
	if len(res.Fingers) != len(tr.Fingers) {
		t.Errorf("spec rot %.1f kind %d seed %d: found %d fingertips, placed %d (extra %d, missing %v)", sp.RotationDeg, sp.Kind, sp.Seed, len(res.Fingers), len(tr.Fingers), res.Extra, res.Missing)
		return
	}
	for i, f := range res.Fingers {
		want := tr.Fingers[i]
		bc := image.Pt((want.Box.Min.X+want.Box.Max.X)/2, (want.Box.Min.Y+want.Box.Max.Y)/2)
		d := math.Hypot(float64(f.Center.X-bc.X), float64(f.Center.Y-bc.Y))
		o := iou(f.Box, want.Box)
		st.maxCentre, st.minIoU = math.Max(st.maxCentre, d), math.Min(st.minIoU, o)
		if d > slapTolCentre || o < slapTolIoU {
			t.Errorf("spec rot %.1f kind %d seed %d finger %d: centre %v vs %v (%.0f px), box %v vs %v (IoU %.2f)", sp.RotationDeg, sp.Kind, sp.Seed, want.Position, f.Center, bc, d, f.Box, want.Box, o)
		}
		if f.Position != want.Position {
			t.Errorf("spec rot %.1f kind %d seed %d missing %b: fingertip %d named %d, is %d", sp.RotationDeg, sp.Kind, sp.Seed, sp.Missing, i, f.Position, want.Position)
		}
	}
	if sp.Kind != hidsim.KindThumbs {
		e := math.Abs(res.HandAngleDeg - sp.RotationDeg)
		st.maxAngle = math.Max(st.maxAngle, e)
		if e > slapTolAngle {
			t.Errorf("spec rot %.1f seed %d: hand angle %.1f", sp.RotationDeg, sp.Seed, res.HandAngleDeg)
		}
	}
}

// TestSlapSegment100 segments 100 generated slaps (right four, left four,
// thumbs in turn) at rotations spread over ±30°, with smudges, and checks
// every fingertip against the renderer's ground truth.
func TestSlapSegment100(t *testing.T) {
	st := slapCheck{minIoU: 1}
	src := cachedQuick()
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				kind := []int{hidsim.KindRightFour, hidsim.KindLeftFour, hidsim.KindThumbs}[i%3]
				sp := hidsim.SlapSpec{
					Identity: uint64(1 + i%5), Kind: kind,
					RotationDeg: -30 + 60*float64(i)/99, Smudges: i % 3, Seed: uint64(i), Source: src,
				}
				img, tr, err := hidsim.RenderSlap(sp)
				if err != nil {
					t.Error(err)
					continue
				}
				res, err := SegmentSlap(img, 500, SlapKind(kind), SlapOptions{GeometryOnly: true})
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				if res.WrongHand || len(res.Missing) > 0 || res.Extra > 0 {
					t.Errorf("slap %d: flagged wrong hand %v missing %v extra %d", i, res.WrongHand, res.Missing, res.Extra)
				}
				checkSlap(t, res, tr, &st)
				mu.Unlock()
			}
		}()
	}
	for i := range 100 {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	t.Logf("100 slaps: worst centre error %.1f px, worst box IoU %.2f, worst hand angle error %.1f°", st.maxCentre, st.minIoU, st.maxAngle)
}

func TestSlapMissingFingers(t *testing.T) {
	src := cachedQuick()
	for i, c := range []struct {
		kind    int
		missing uint8
		want    []int
	}{
		{hidsim.KindRightFour, 1 << 2, []int{4}},        // ring
		{hidsim.KindRightFour, 1 << 0, []int{2}},        // index
		{hidsim.KindLeftFour, 1 << 3, []int{10}},        // little
		{hidsim.KindLeftFour, 1<<1 | 1<<2, []int{9, 8}}, // middle and ring
		{hidsim.KindThumbs, 2, []int{6}},                // left thumb
	} {
		for _, rot := range []float64{-25, 0, 20} {
			sp := hidsim.SlapSpec{Identity: 7, Kind: c.kind, Missing: c.missing, RotationDeg: rot, Seed: uint64(i*10) + uint64(rot+30), Source: src}
			img, tr, err := hidsim.RenderSlap(sp)
			if err != nil {
				t.Fatal(err)
			}
			res, err := SegmentSlap(img, 500, SlapKind(c.kind), SlapOptions{GeometryOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(sortedCopy(res.Missing)) != fmt.Sprint(sortedCopy(c.want)) || res.WrongHand {
				t.Errorf("kind %d missing bits %b rot %v: missing %v wrong hand %v, want %v", c.kind, c.missing, rot, res.Missing, res.WrongHand, c.want)
				continue
			}
			if !slapHas(res.Reasons, SlapReasonMissing) {
				t.Errorf("no missing-finger reason: %v", res.Reasons)
			}
			checkSlap(t, res, tr, &slapCheck{minIoU: 1})
		}
	}
}

func sortedCopy(v []int) []int {
	out := append([]int(nil), v...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func slapHas(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestSlapWrongHand(t *testing.T) {
	src := cachedQuick()
	flagged, n := 0, 0
	for i, rot := range []float64{-30, -15, 0, 10, 25, 30} {
		for _, kind := range []int{hidsim.KindRightFour, hidsim.KindLeftFour} {
			sp := hidsim.SlapSpec{Identity: 9, Kind: kind, WrongHand: true, RotationDeg: rot, Seed: uint64(100 + i), Source: src}
			img, tr, err := hidsim.RenderSlap(sp)
			if err != nil {
				t.Fatal(err)
			}
			res, err := SegmentSlap(img, 500, SlapKind(kind), SlapOptions{GeometryOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			n++
			if res.WrongHand && slapHas(res.Reasons, SlapReasonWrongHand) {
				flagged++
				checkSlap(t, res, tr, &slapCheck{minIoU: 1}) // positions are the hand placed
			} else {
				t.Errorf("kind %d rot %v: wrong hand not flagged (%+v)", kind, rot, res.Reasons)
			}
		}
	}
	t.Logf("wrong hand flagged on %d of %d slaps", flagged, n)
}

func TestSlapErrors(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 100, 100))
	if _, err := SegmentSlap(img, 500, 7, SlapOptions{}); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := SegmentSlap(img, 1000, SlapRightFour, SlapOptions{}); err == nil {
		t.Error("1000 ppi accepted")
	}
	if _, err := SegmentSlap(nil, 500, SlapRightFour, SlapOptions{}); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := SegmentSlap(img, 500, SlapRightFour, SlapOptions{Expected: []int{1}}); err == nil {
		t.Error("thumb expected in a four-finger slap")
	}
	res, err := SegmentSlap(img, 500, SlapRightFour, SlapOptions{})
	if err != nil || len(res.Fingers) != 0 || len(res.Missing) != 4 {
		t.Errorf("blank platen: %+v %v", res, err)
	}
}

// TestSlapSynthetic segments slaps composed of synthfinger fingertips and
// scores each with Assess: every fingertip is found, named, and judged a
// fingerprint. Rendering synthetic masters is slow under -race (about ten
// seconds each here), so this runs without it.
func TestSlapSynthetic(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("synthfinger masters are too slow under -race / -short; run go test without -race")
	}
	for i, sp := range []hidsim.SlapSpec{
		{Identity: 21, Kind: hidsim.KindRightFour, RotationDeg: 18, Smudges: 1, Seed: 1},
		{Identity: 21, Kind: hidsim.KindLeftFour, RotationDeg: -27, Seed: 2},
	} {
		img, tr, err := hidsim.RenderSlap(sp)
		if err != nil {
			t.Fatal(err)
		}
		res, err := SegmentSlap(img, 500, SlapKind(sp.Kind), SlapOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkSlap(t, res, tr, &slapCheck{minIoU: 1})
		if res.WrongHand || len(res.Missing) > 0 {
			t.Errorf("slap %d: wrong hand %v missing %v", i, res.WrongHand, res.Missing)
		}
		for _, f := range res.Fingers {
			if !f.Quality.Fingerprint || f.Quality.Score < 20 {
				t.Errorf("slap %d finger %d: quality %d, fingerprint %v (%s)", i, f.Position, f.Quality.Score, f.Quality.Fingerprint, f.Quality.Rejection)
			}
			t.Logf("slap %d finger %d: %dx%d quality %d", i, f.Position, f.Image.Rect.Dx(), f.Image.Rect.Dy(), f.Quality.Score)
		}
	}
}

func benchSlap(b *testing.B, opts SlapOptions) {
	img, _, err := hidsim.RenderSlap(hidsim.SlapSpec{Identity: 3, Kind: hidsim.KindRightFour, RotationDeg: 17, Smudges: 1, Seed: 5, Source: hidsim.QuickSource()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := SegmentSlap(img, 500, SlapRightFour, opts)
		if err != nil || len(res.Fingers) != 4 {
			b.Fatalf("segment: %v, %d fingers", err, len(res.Fingers))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/slap")
}

// BenchmarkSlapSegment_1600x1500: one 500 ppi four-finger slap, single
// goroutine; "geometry" finds and names the fingertips, "cut" also cuts
// them out upright, "with_quality" also scores the four with Assess.
func BenchmarkSlapSegment_1600x1500(b *testing.B) {
	b.Run("geometry", func(b *testing.B) { benchSlap(b, SlapOptions{GeometryOnly: true}) })
	b.Run("cut", func(b *testing.B) { benchSlap(b, SlapOptions{NoQuality: true}) })
	b.Run("with_quality", func(b *testing.B) { benchSlap(b, SlapOptions{}) })
}

// TestSlapUnexpectedFinger: the session excused the index finger (say, a
// bandage) but four fingertips are on the platen: the index is reported as
// unexpected, nothing as missing.
func TestSlapUnexpectedFinger(t *testing.T) {
	img, tr, err := hidsim.RenderSlap(hidsim.SlapSpec{Identity: 8, Kind: hidsim.KindRightFour, RotationDeg: 14, Seed: 3, Source: cachedQuick()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := SegmentSlap(img, 500, SlapRightFour, SlapOptions{Expected: []int{3, 4, 5}, GeometryOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkSlap(t, res, tr, &slapCheck{minIoU: 1})
	if len(res.Missing) != 0 || fmt.Sprint(res.Unexpected) != "[2]" || !slapHas(res.Reasons, SlapReasonExtra) {
		t.Fatalf("missing %v unexpected %v reasons %v", res.Missing, res.Unexpected, res.Reasons)
	}
}

// The outline is where each upright fingertip was cut from: it holds the
// pad's true centre, its first side runs across the finger at the finger's
// angle, and it encloses the cut image's area.
func TestSlapOutline(t *testing.T) {
	src := cachedQuick()
	for i, rot := range []float64{-25, 0, 20} {
		sp := hidsim.SlapSpec{Identity: 12, Kind: hidsim.KindRightFour, RotationDeg: rot, Seed: uint64(40 + i), Source: src}
		img, tr, err := hidsim.RenderSlap(sp)
		if err != nil {
			t.Fatal(err)
		}
		res, err := SegmentSlap(img, 500, SlapRightFour, SlapOptions{NoQuality: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Fingers) != len(tr.Fingers) {
			t.Fatalf("rot %v: %d fingers found, %d placed", rot, len(res.Fingers), len(tr.Fingers))
		}
		for k, f := range res.Fingers {
			o := f.Outline
			if !inQuad(o, tr.Fingers[k].Center) {
				t.Errorf("rot %v finger %d: outline %v does not hold the pad centre %v", rot, f.Position, o, tr.Fingers[k].Center)
			}
			clamped := false
			for _, p := range o {
				clamped = clamped || p.X == 0 || p.Y == 0 || p.X == img.Rect.Dx()-1 || p.Y == img.Rect.Dy()-1
			}
			if clamped {
				continue
			}
			side := math.Atan2(float64(o[1].Y-o[0].Y), float64(o[1].X-o[0].X)) * 180 / math.Pi
			if math.Abs(side-f.AngleDeg) > 2 {
				t.Errorf("rot %v finger %d: outline turned %.1f°, finger %.1f°", rot, f.Position, side, f.AngleDeg)
			}
			b := f.Image.Bounds()
			if a, want := quadArea(o), float64(b.Dx()*b.Dy()); math.Abs(a-want) > 0.05*want {
				t.Errorf("rot %v finger %d: outline area %.0f px, cut image %.0f px", rot, f.Position, a, want)
			}
		}
	}
}

// quadArea is the area of a simple quadrilateral (shoelace formula).
func quadArea(q [4]image.Point) float64 {
	s := 0
	for i := range q {
		j := (i + 1) % 4
		s += q[i].X*q[j].Y - q[j].X*q[i].Y
	}
	return math.Abs(float64(s)) / 2
}

// inQuad reports whether p lies inside the convex quadrilateral q.
func inQuad(q [4]image.Point, p image.Point) bool {
	sign := 0
	for i := range q {
		j := (i + 1) % 4
		c := (q[j].X-q[i].X)*(p.Y-q[i].Y) - (q[j].Y-q[i].Y)*(p.X-q[i].X)
		switch {
		case c > 0 && sign < 0, c < 0 && sign > 0:
			return false
		case c > 0:
			sign = 1
		case c < 0:
			sign = -1
		}
	}
	return true
}

// A slap handed over as a sub-image (its Rect.Min not at 0,0) is found the
// same, and its boxes, centres and outlines come in the sub-image's own
// coordinates.
func TestSlapSubImageCoordinates(t *testing.T) {
	img, _, err := hidsim.RenderSlap(hidsim.SlapSpec{Identity: 12, Kind: hidsim.KindRightFour, RotationDeg: 10, Seed: 3, Source: cachedQuick()})
	if err != nil {
		t.Fatal(err)
	}
	// The same pixels inside a larger frame, 40 px in and 30 px down.
	big := image.NewGray(image.Rect(0, 0, img.Rect.Dx()+80, img.Rect.Dy()+60))
	draw.Draw(big, img.Rect.Add(image.Pt(40, 30)), img, image.Point{}, draw.Src)
	sub := big.SubImage(img.Rect.Add(image.Pt(40, 30))).(*image.Gray)
	a, err := SegmentSlap(img, 500, SlapRightFour, SlapOptions{NoQuality: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := SegmentSlap(sub, 500, SlapRightFour, SlapOptions{NoQuality: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Fingers) != 4 || len(b.Fingers) != 4 {
		t.Fatalf("%d and %d fingers found", len(a.Fingers), len(b.Fingers))
	}
	d := image.Pt(40, 30)
	for i := range a.Fingers {
		fa, fb := a.Fingers[i], b.Fingers[i]
		if fb.Box != fa.Box.Add(d) || fb.Center != fa.Center.Add(d) || fb.Outline[2] != fa.Outline[2].Add(d) || !fb.Box.In(sub.Bounds()) {
			t.Errorf("finger %d: box %v centre %v on the sub-image, %v %v on the image", fa.Position, fb.Box, fb.Center, fa.Box, fa.Center)
		}
		if !bytes.Equal(fa.Image.Pix, fb.Image.Pix) {
			t.Errorf("finger %d: the cut image differs", fa.Position)
		}
	}
}
