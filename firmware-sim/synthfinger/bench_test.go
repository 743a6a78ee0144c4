package synthfinger

import "testing"

// benchPrint measures one image per iteration. cold=true empties the master
// cache first, so the time includes growing the ridge pattern.
func benchPrint(b *testing.B, w, h int, cold bool) {
	imp := GoodImpression()
	imp.Width, imp.Height = w, h
	imp.Noise, imp.Blur, imp.Moisture, imp.Dirt = 8, 0.8, -0.3, 0.2
	if _, _, err := Print(1, 2, imp); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if cold {
			masters.purge()
		}
		imp.Seed = uint64(i)
		if _, _, err := Print(1, 2, imp); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
}

func BenchmarkSynthPrint_416x560(b *testing.B) {
	b.Run("cached_master", func(b *testing.B) { benchPrint(b, 416, 560, false) })
	b.Run("cold_master", func(b *testing.B) { benchPrint(b, 416, 560, true) })
}

func BenchmarkSynthPrint_256x288(b *testing.B) {
	b.Run("cached_master", func(b *testing.B) { benchPrint(b, 256, 288, false) })
	b.Run("cold_master", func(b *testing.B) { benchPrint(b, 256, 288, true) })
}
