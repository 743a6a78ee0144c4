package finger

import (
	"image"
	"testing"
)

// FuzzAssess: any size and content, no panic, score within 0-100, and the
// mask covers the image.
func FuzzAssess(f *testing.F) {
	f.Add(uint16(64), uint16(64), uint16(500), []byte{0, 255, 128})
	f.Add(uint16(34), uint16(40), uint16(0), []byte{7})
	f.Add(uint16(200), uint16(100), uint16(1000), []byte("fingerprint ridge valley"))
	f.Add(uint16(33), uint16(2000), uint16(250), []byte{255})
	f.Add(uint16(0), uint16(5), uint16(500), []byte{})
	f.Add(uint16(90), uint16(90), uint16(99), []byte{1, 2, 3})
	// A real ridge pattern as seed so the fuzzer reaches the minutiae code.
	s := sinusoid(96, 96, 9, 30, 128, 90)
	f.Add(uint16(96), uint16(96), uint16(500), s.Pix)
	f.Fuzz(func(t *testing.T, w, h, ppi uint16, data []byte) {
		W, H := int(w%700), int(h%700)
		img := image.NewGray(image.Rect(0, 0, W, H))
		if len(data) > 0 {
			for i := range img.Pix {
				img.Pix[i] = data[i%len(data)]
			}
		}
		res, err := Assess(img, int(ppi%3000))
		if err != nil {
			return
		}
		if res.Score < 0 || res.Score > 100 {
			t.Fatalf("score %d out of 0-100", res.Score)
		}
		if !res.Fingerprint && res.Score != 0 {
			t.Fatalf("rejected image with score %d", res.Score)
		}
		if res.Mask.Cols*res.Mask.Rows != len(res.Mask.Bits) {
			t.Fatalf("mask %dx%d with %d bits", res.Mask.Cols, res.Mask.Rows, len(res.Mask.Bits))
		}
		res.Mask.At(W-1, H-1)
	})
}

func TestAssessErrors(t *testing.T) {
	if _, err := Assess(nil, 500); err == nil {
		t.Error("nil image: no error")
	}
	if _, err := Assess(image.NewGray(image.Rect(0, 0, 0, 10)), 500); err == nil {
		t.Error("empty image: no error")
	}
	if _, err := Assess(image.NewGray(image.Rect(0, 0, 20, 20)), 500); err == nil {
		t.Error("20x20 image: no error")
	}
	if _, err := Assess(image.NewGray(image.Rect(0, 0, 100, 100)), 50); err == nil {
		t.Error("50 ppi: no error")
	}
	// A sub-image (non-zero origin, stride wider than the width) is read
	// correctly: the same pixels give the same result.
	big := sinusoid(300, 300, 9, 30, 128, 90)
	sub := big.SubImage(image.Rect(50, 50, 250, 250)).(*image.Gray)
	cp := image.NewGray(image.Rect(0, 0, 200, 200))
	for y := 0; y < 200; y++ {
		copy(cp.Pix[y*200:(y+1)*200], sub.Pix[y*sub.Stride:y*sub.Stride+200])
	}
	r1, err1 := Assess(sub, 500)
	r2, err2 := Assess(cp, 500)
	if err1 != nil || err2 != nil || r1.Features != r2.Features {
		t.Errorf("sub-image differs from its copy: %v %v\n%+v\n%+v", err1, err2, r1.Features, r2.Features)
	}
}
