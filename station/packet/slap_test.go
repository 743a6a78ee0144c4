package packet

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/station/packet/ansinist"
)

// withRightSlap adds a right four-finger slap, with its four fingertips'
// boxes, to a test enrollment.
func withRightSlap(e *Enrollment) *Enrollment {
	img := testFinger(160, 120, 13)
	// A sub-image: the boxes are in its own coordinates, offset by Min.
	shifted := img.SubImage(image.Rect(10, 5, 150, 115)).(*image.Gray)
	e.Slaps = append(e.Slaps, Slap{Position: SlapRightFour, Image: shifted, PPI: 500,
		Captured: time.Date(2026, 11, 27, 9, 31, 0, 0, time.UTC), DeviceID: "slap0",
		Segments: []SlapSegment{
			{Position: 2, Box: image.Rect(12, 10, 40, 60).Add(shifted.Rect.Min), Quality: Quality{Score: 70}},
			{Position: 3, Box: image.Rect(44, 6, 74, 58).Add(shifted.Rect.Min), Quality: Quality{Score: 66}},
			{Position: 4, Box: image.Rect(78, 12, 106, 62).Add(shifted.Rect.Min), Quality: Quality{Score: 59}},
			{Position: 5, Box: image.Rect(110, 30, 140, 110).Add(shifted.Rect.Min), Quality: Quality{Score: -1}},
		}})
	// The middle finger's outline, turned a little.
	sl := &e.Slaps[len(e.Slaps)-1]
	for _, p := range []image.Point{{48, 6}, {74, 10}, {70, 58}, {44, 54}} {
		sl.Segments[1].Outline = append(sl.Segments[1].Outline, p.Add(shifted.Rect.Min))
	}
	return e
}

func TestSlapsInPacket(t *testing.T) {
	k := sharedKeys(t)
	e := withRightSlap(testEnrollment(t, 64, 80))
	p := build(t, e, testOptions(k))
	c, err := Open(p.Bytes, k.ring, k.trusted)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Manifest.Slaps) != 1 {
		t.Fatalf("manifest slaps %+v", c.Manifest.Slaps)
	}
	ms := c.Manifest.Slaps[0]
	if ms.Position != SlapRightFour || ms.Name != "right four-finger slap" || ms.Width != 140 || ms.Height != 110 || ms.PPI != 500 || ms.DeviceID != "slap0" {
		t.Errorf("manifest slap %+v", ms)
	}
	// Eight single fingers, then the slap, last.
	d := c.Records.Transaction
	if len(d.Type14) != 9 || len(d.Type1.Content) != 11 {
		t.Fatalf("%d Type-14 records, CNT %v", len(d.Type14), d.Type1.Content)
	}
	t14 := d.Type14[8]
	if t14.IDC != 10 || len(t14.FGP) != 1 || t14.FGP[0] != 13 || t14.IMP != ansinist.ImpressionPlain || t14.HLL != 140 || t14.VLL != 110 {
		t.Errorf("slap record %+v", t14)
	}
	// SEG edges are inclusive pixels of the image as stored (from its
	// top left, whatever the sub-image's origin).
	want := []ansinist.Segment{{FGP: 2, Left: 12, Right: 39, Top: 10, Bottom: 59}, {FGP: 3, Left: 44, Right: 73, Top: 6, Bottom: 57},
		{FGP: 4, Left: 78, Right: 105, Top: 12, Bottom: 61}, {FGP: 5, Left: 110, Right: 139, Top: 30, Bottom: 109}}
	if len(t14.SEG) != 4 {
		t.Fatalf("SEG %+v", t14.SEG)
	}
	for i, g := range t14.SEG {
		if g != want[i] {
			t.Errorf("SEG %d: %+v, want %+v", i, g, want[i])
		}
		if ms.Segments[i].Left != g.Left || ms.Segments[i].Bottom != g.Bottom {
			t.Errorf("manifest segment %d %+v differs from SEG %+v", i, ms.Segments[i], g)
		}
	}
	for i, q := range t14.FQM {
		if want := []int{70, 66, 59, ansinist.QualityNotComputed}[i]; q.FGP != i+2 || q.Score != want {
			t.Errorf("FQM %d: %+v, want finger %d score %d", i, q, i+2, want)
		}
	}
	// The outline, where one is known, as ASEG in the stored image's pixels.
	wantOutline := []image.Point{{48, 6}, {74, 10}, {70, 58}, {44, 54}}
	if len(t14.ASEG) != 1 || t14.ASEG[0].FGP != 3 || !reflect.DeepEqual(t14.ASEG[0].Points, wantOutline) {
		t.Errorf("ASEG %+v, want the right middle's %v", t14.ASEG, wantOutline)
	}
	if o := ms.Segments[1].Outline; len(o) != 4 || o[0] != [2]int{48, 6} || ms.Segments[0].Outline != nil {
		t.Errorf("manifest outlines %v / %v", o, ms.Segments[0].Outline)
	}
	// Lossless: the slap's pixels as captured.
	img, err := png.Decode(bytes.NewReader(t14.Data))
	if err != nil {
		t.Fatal(err)
	}
	g := img.(*image.Gray)
	src := e.Slaps[0].Image
	for y := 0; y < 110; y++ {
		if !bytes.Equal(g.Pix[y*g.Stride:y*g.Stride+140], src.Pix[src.PixOffset(10, 5+y):src.PixOffset(10, 5+y)+140]) {
			t.Fatalf("slap row %d differs from the capture", y)
		}
	}
	// The ISO finger record carries single fingers only.
	if n := len(c.Records.Fingers.Representations); n != 8 {
		t.Errorf("ISO record has %d representations, want the 8 single fingers", n)
	}
}

func TestSlapRejected(t *testing.T) {
	k := sharedKeys(t)
	for name, mutate := range map[string]func(*Slap){
		"left finger on a right slap": func(s *Slap) { s.Segments[0].Position = 7 },
		"box past the edge":           func(s *Slap) { s.Segments[3].Box.Max.X = 151 },
		"box in other coordinates":    func(s *Slap) { s.Segments[0].Box = image.Rect(0, 0, 8, 8) },
		"no segments":                 func(s *Slap) { s.Segments = nil },
		"single finger position":      func(s *Slap) { s.Position = 2 },
		"finger twice":                func(s *Slap) { s.Segments[1].Position = 2 },
		"no resolution":               func(s *Slap) { s.PPI = 0 },
		"two-corner outline":          func(s *Slap) { s.Segments[1].Outline = s.Segments[1].Outline[:2] },
		"outline outside":             func(s *Slap) { s.Segments[1].Outline[2] = image.Pt(500, 20) },
	} {
		e := withRightSlap(testEnrollment(t, 16, 16))
		mutate(&e.Slaps[0])
		_, err := Build(e, testOptions(k))
		if err == nil || !strings.Contains(err.Error(), "packet:") {
			t.Errorf("%s: built (%v)", name, err)
		}
	}
	e := withRightSlap(withRightSlap(testEnrollment(t, 16, 16)))
	if _, err := Build(e, testOptions(k)); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("two right slaps: %v", err)
	}
}

// A central receiving a signed packet whose manifest says one thing of a
// slap and whose Type-14 says another refuses it.
func TestSlapManifestMismatch(t *testing.T) {
	k := sharedKeys(t)
	p := build(t, fuzzEnrollment(t), testOptions(k))
	items := decryptTB(t, k, p.Bytes)
	orig, _ := json.Marshal(p.Manifest)
	for name, mutate := range map[string]func(m *Manifest){
		"segment edge":   func(m *Manifest) { m.Slaps[0].Segments[0].Left++ },
		"segment finger": func(m *Manifest) { m.Slaps[0].Segments[0].Position = 6 },
		"quality":        func(m *Manifest) { m.Slaps[0].Segments[1].Quality.Score++ },
		"slap dropped":   func(m *Manifest) { m.Slaps = nil },
		"image hash":     func(m *Manifest) { m.Slaps[0].ImageSHA256 = strings.Repeat("0", 64) },
		"outline corner": func(m *Manifest) { m.Slaps[0].Segments[0].Outline[2][0]-- },
		"outline gone":   func(m *Manifest) { m.Slaps[0].Segments[0].Outline = nil },
		"outline added":  func(m *Manifest) { m.Slaps[0].Segments[1].Outline = [][2]int{{1, 2}, {6, 2}, {6, 11}} },
	} {
		m := *p.Manifest
		// A deep copy of the slaps: Unmarshal into a nil slice (into the
		// old one it would write over the shared manifest's elements).
		raw, _ := json.Marshal(p.Manifest.Slaps)
		m.Slaps = nil
		if err := json.Unmarshal(raw, &m.Slaps); err != nil {
			t.Fatal(err)
		}
		mutate(&m)
		mj, _ := json.Marshal(&m)
		if _, ok, err := resignAndOpen(t, k, items, mj, items[1].data); !ok || !errors.Is(err, ErrInvalidRecords) {
			t.Errorf("%s: ok=%v err=%v", name, ok, err)
		}
		if now, _ := json.Marshal(p.Manifest); !bytes.Equal(now, orig) {
			t.Fatalf("%s: changed the built manifest, not a copy", name)
		}
	}
}
