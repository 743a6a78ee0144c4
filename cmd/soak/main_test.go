package main

import (
	"math"
	"os"
	"testing"
)

// slope is the least-squares slope; memory reads this very process.
func TestSlopeAndMemory(t *testing.T) {
	x := []float64{0, 30, 60, 90, 120}
	y := []float64{100, 101, 99, 100, 100}
	if s := slope(x, y); math.Abs(s) > 0.01 {
		t.Errorf("flat series: slope %g per s", s)
	}
	y = []float64{100, 103, 106, 109, 112} // 3 MB per 30 s = 360 MB/h
	if s := slope(x, y) * 3600; math.Abs(s-360) > 1e-6 {
		t.Errorf("growing series: %g MB/h, want 360", s)
	}
	if slope([]float64{1}, []float64{5}) != 0 || slope([]float64{2, 2}, []float64{1, 9}) != 0 {
		t.Error("degenerate series must give 0")
	}
	rss, hwm, err := memory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 1 || hwm < rss || rss > 1<<20 {
		t.Errorf("this process: rss %.1f MB, peak %.1f MB", rss, hwm)
	}
	if _, _, err := memory(-1); err == nil {
		t.Error("no such process: no error")
	}
}
