package synthfinger

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func mustPrint(t testing.TB, id uint64, finger int, imp Impression) ([]byte, Label) {
	t.Helper()
	img, lab, err := Print(id, finger, imp)
	if err != nil {
		t.Fatalf("Print(%d, %d): %v", id, finger, err)
	}
	if img.Bounds().Dx() != imp.Width || img.Bounds().Dy() != imp.Height {
		t.Fatalf("image size %v, want %dx%d", img.Bounds(), imp.Width, imp.Height)
	}
	return img.Pix, lab
}

func TestDeterministic(t *testing.T) {
	imp := GoodImpression()
	imp.Noise, imp.Dirt, imp.Moisture, imp.Seed = 10, 0.3, -0.4, 42
	a, la := mustPrint(t, 11, 3, imp)
	masters.purge() // rebuild the master from scratch
	b, lb := mustPrint(t, 11, 3, imp)
	if !bytes.Equal(a, b) {
		t.Fatal("same identity, finger and impression gave different bytes")
	}
	if la.Quality != lb.Quality || la.Class != lb.Class {
		t.Fatalf("labels differ: %+v vs %+v", la, lb)
	}
}

func TestInvalidInput(t *testing.T) {
	bad := []struct {
		name   string
		finger int
		mod    func(*Impression)
		want   string
	}{
		{"finger 0", 0, func(*Impression) {}, "finger position 0"},
		{"finger 11", 11, func(*Impression) {}, "finger position 11"},
		{"tiny", 1, func(i *Impression) { i.Width = 8 }, "image size"},
		{"huge", 1, func(i *Impression) { i.Height = 100000 }, "image size"},
		{"nan blur", 1, func(i *Impression) { i.Blur = math.NaN() }, "Blur"},
		{"contact>1", 1, func(i *Impression) { i.Contact = 1.5 }, "Contact"},
		{"moisture", 1, func(i *Impression) { i.Moisture = -2 }, "Moisture"},
	}
	for _, c := range bad {
		imp := GoodImpression()
		c.mod(&imp)
		_, _, err := Print(1, c.finger, imp)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want mention of %q", c.name, err, c.want)
		}
	}
}

func TestRandomImpressionValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		imp := RandomImpression(rng)
		if err := imp.validate(); err != nil {
			t.Fatalf("RandomImpression gave an invalid impression: %v", err)
		}
	}
}
