package hid

import (
	"image"
	"os"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/firmware-sim/hidsim"
)

// BenchmarkSlapTransfer_1600x1500: one full 500 ppi slap from arm to the
// checked image over the virtual transport (44 445 image block reports of
// 64 bytes), against the simulator in the same process.
func BenchmarkSlapTransfer_1600x1500(b *testing.B) {
	dir, err := os.MkdirTemp("", "hidb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	hub, err := hidsim.NewHub(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	img := testImage(hidsim.SlapWidth, hidsim.SlapHeight, 1)
	if err := hub.Plug("slap", &hidsim.Slap{Serial: "B1", Source: func(hidsim.Arm) (*image.Gray, error) { return img, nil }}); err != nil {
		b.Fatal(err)
	}
	o := DefaultSlapOptions()
	o.LinkOptions = LinkOptions{Transport: "virtual", VendorID: SimVendorID, ProductID: SimProductSlap, CommandTimeout: Duration{Duration: 5 * time.Second}}
	s, err := OpenSlap(b.Context(), devices.Config{ID: "bench", Port: dir}, o, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(len(img.Pix)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Capture(b.Context(), SlapRequest{Kind: RightFour}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/slap")
}
