package zfm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices/fingerprint/zfm"
	zfmsim "github.com/openenroll/stationd/firmware-sim/zfm"
)

// BenchmarkZFMUpload uploads a full R307 image (256 × 288, 4-bit: 36 864
// bytes in 128-byte packets) from the simulator at line rate. efficiency is
// the 8N1 time of every byte on the wire (command, acknowledgement, data
// packets; 10 bits per byte) divided by the measured time: 1 would be a
// perfectly busy line, the goal is ≥ 0.95. One upload takes ≈ 7 s at 57600
// and ≈ 3.5 s at 115200, so the default -benchtime runs one iteration.
func BenchmarkZFMUpload(b *testing.B) {
	for _, baud := range []int{57600, 115200} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			const w, h = 256, 288
			sim := startSim(b, zfmsim.Config{Baud: baud, Width: w, Height: h})
			o := zfm.DefaultOptions()
			o.Baud = baud
			sc := open(b, sim, o, nil)
			sim.Place(zfmsim.BuiltinFinger(w, h, 1))
			ctx := context.Background()
			if err := sc.Dev().GenImg(ctx); err != nil {
				b.Fatal(err)
			}
			var wire int64
			var took time.Duration
			b.ResetTimer()
			for range b.N {
				tx0, rx0 := sim.WireBytes()
				start := time.Now()
				if _, err := sc.Dev().UpImage(ctx, w*h/2); err != nil {
					b.Fatal(err)
				}
				took += time.Since(start)
				tx1, rx1 := sim.WireBytes()
				wire += tx1 - tx0 + rx1 - rx0
			}
			ideal := time.Duration(wire * 10 * int64(time.Second) / int64(baud))
			b.ReportMetric(ideal.Seconds()/took.Seconds(), "efficiency")
			b.ReportMetric(float64(wire)/float64(b.N), "wire_bytes/op")
		})
	}
}
