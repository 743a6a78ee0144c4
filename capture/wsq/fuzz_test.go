package wsq

import (
	"runtime"
	"testing"
)

// decodeBound is the most Decode may allocate for an input of n bytes
// whose frame header claims w×h pixels: the coefficient plane, the
// transform's scratch copy and line buffers, the output image, and the
// sparse coefficient list (each nonzero coefficient costs at least one
// input bit), plus fixed overhead for tables.
func decodeBound(n, w, h int) uint64 {
	pixels := uint64(w) * uint64(h)
	return 4*pixels + 4*pixels + pixels + 2*8*8*uint64(n) + 64*uint64(w+h) + 1<<20
}

func FuzzDecode(f *testing.F) {
	f.Add(handBuilt())
	for _, sz := range [][2]int{{24, 40}, {9, 7}, {70, 33}} {
		img := ridgeImage(sz[0], sz[1], 2)
		for _, rate := range []float64{0.75, 2.25} {
			data, err := Encode(img, 500, rate)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	if eb, err := newEvenBank(even8Lo, even8Hi); err == nil {
		data, err := encode(ridgeImage(30, 20, 3), 500, 1, evenAnalysis(eb))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0xFF, 0xA0, 0xFF, 0xA1})
	f.Add([]byte{0xFF, 0xA0, 0xFF, 0xA2, 0, 17, 0, 255, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 100, 0, 0, 1, 0, 0, 0, 0xFF, 0xA1})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, cfgErr := DecodeConfig(data)
		// A few bytes can describe a frame of millions of pixels whose
		// reconstruction takes seconds; like the standard library's image
		// fuzzers, leave those to the unit tests so the fuzzer keeps its
		// pace. Header parsing above still runs on them.
		if cfgErr == nil && cfg.Width*cfg.Height > 1<<20 {
			return
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, _, err := Decode(data)
		runtime.ReadMemStats(&after)
		if err != nil {
			if img != nil {
				t.Fatal("image returned with an error")
			}
		} else {
			if cfgErr != nil {
				t.Fatalf("Decode succeeded but DecodeConfig failed: %v", cfgErr)
			}
			if img.Rect.Dx() != cfg.Width || img.Rect.Dy() != cfg.Height {
				t.Fatalf("image %v, header says %dx%d", img.Rect, cfg.Width, cfg.Height)
			}
		}
		w, h := 0, 0
		if cfgErr == nil {
			w, h = cfg.Width, cfg.Height
		}
		if got, bound := after.TotalAlloc-before.TotalAlloc, decodeBound(len(data), w, h); got > bound {
			t.Fatalf("Decode allocated %d bytes, bound for %d input bytes and a %dx%d frame is %d", got, len(data), w, h, bound)
		}
	})
}

// A frame larger than the fuzzer decodes: a few hundred bytes describe a
// 1500x1500 image with no coded subbands. It must decode to the shift
// value everywhere within the header-derived allocation bound.
func TestDecodeLargeEmptyFrame(t *testing.T) {
	var b []byte
	b = be16(b, markerSOI)
	b = appendDTT(b, specLowpass, specHighpass)
	var qs, zs [totalSubbands]scaled
	b = appendDQT(b, fbiBinCenter, &qs, &zs)
	b = appendSOF(b, 1500, 1500, scaled{n: 117}, scaled{n: 1})
	b = be16(b, markerEOI)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	img, _, err := Decode(b)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got, bound := after.TotalAlloc-before.TotalAlloc, decodeBound(len(b), 1500, 1500); got > bound {
		t.Errorf("allocated %d bytes, bound %d", got, bound)
	}
	for i, p := range img.Pix {
		if p != 117 {
			t.Fatalf("pixel %d = %d, want 117", i, p)
		}
	}
}
