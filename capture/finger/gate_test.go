package finger

import (
	"image"
	"image/draw"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"
)

func assertRejected(t *testing.T, name string, img *image.Gray) {
	t.Helper()
	res, err := Assess(img, StandardPPI)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.Fingerprint || res.Score != 0 {
		t.Errorf("%s: accepted as a fingerprint with score %d (features %+v)", name, res.Score, res.Features)
		return
	}
	if len(res.Reasons) != 1 || res.Reasons[0] != NotAFingerprint || res.Rejection == "" {
		t.Errorf("%s: reasons %v, rejection %q", name, res.Reasons, res.Rejection)
	}
	t.Logf("%s: %s", name, res.Rejection)
}

// Everything that is not a finger is rejected, whatever its texture.
func TestGateRejectsNonFingerprints(t *testing.T) {
	for _, sz := range [][2]int{{416, 560}, {256, 288}} {
		w, h := sz[0], sz[1]
		cases := map[string]*image.Gray{
			"blank white":  uniform(w, h, 255),
			"blank black":  uniform(w, h, 0),
			"uniform grey": uniform(w, h, 128),
			"gradient":     gradient(w, h),
			"gauss noise":  gaussNoise(w, h, 140, 55, 1),
			"faint noise":  gaussNoise(w, h, 140, 20, 2),
			"smooth noise": smoothNoise(w, h, 3),
			"stripes":      sinusoid(w, h, 9, 30, 128, 90),
			"fine stripes": sinusoid(w, h, 5, 100, 128, 90),
			"rings":        rings(w, h, 9),
			"fabric":       fabric(w, h),
			"blobs":        blobs(w, h, 4),
			"text large":   text(w, h, 3),
			"text small":   text(w, h, 2),
			"face":         face(w, h),
		}
		for name, img := range cases {
			assertRejected(t, name+" "+sizeName(w, h), img)
		}
	}
}

func sizeName(w, h int) string {
	return itoa(w) + "x" + itoa(h)
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

// Photos of faces and scenes from the project's test data (and the shared
// face set when present) are not fingerprints.
func TestGateRejectsPhotos(t *testing.T) {
	var files []string
	for _, dir := range []string{"../../testdata/faces", "../../../shared/testdata/faces"} {
		for _, pat := range []string{"*.png", "*.jpg", "negatives/*.png", "negatives/*.jpg"} {
			m, _ := filepath.Glob(filepath.Join(dir, pat))
			files = append(files, m...)
		}
	}
	if len(files) == 0 {
		t.Skip("no face or scene photos in testdata/faces or ../shared/testdata/faces")
	}
	for i, f := range files {
		if raceEnabled && i%5 != 0 {
			continue // thinned under -race (see raceEnabled)
		}
		img, err := loadGray(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < minSide || b.Dy() < minSide {
			continue
		}
		assertRejected(t, f, img)
	}
}

// loadGray reads a PNG or JPEG and converts it to grey (test photos are in
// colour).
func loadGray(name string) (*image.Gray, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	img, _, err := image.Decode(fh)
	if err != nil {
		return nil, err
	}
	if g, ok := img.(*image.Gray); ok {
		return g, nil
	}
	g := image.NewGray(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
	draw.Draw(g, g.Bounds(), img, img.Bounds().Min, draw.Src)
	return g, nil
}
