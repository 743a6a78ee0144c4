package hidsim

import (
	"encoding/binary"
	"image"
	"io"
	"net"
	"testing"
)

// TestRenderSlapTruth: the renderer places the right fingers, inside the
// platen, in the hand's order, and honours missing, wrong-hand and repeat.
func TestRenderSlapTruth(t *testing.T) {
	src := QuickSource()
	cases := []struct {
		spec SlapSpec
		want []int
	}{
		{SlapSpec{Kind: KindRightFour, RotationDeg: 30}, []int{2, 3, 4, 5}},
		{SlapSpec{Kind: KindLeftFour, RotationDeg: -30}, []int{10, 9, 8, 7}},
		{SlapSpec{Kind: KindThumbs, RotationDeg: 12}, []int{6, 1}},
		{SlapSpec{Kind: KindRightFour, Missing: 1 << 3}, []int{2, 3, 4}},
		{SlapSpec{Kind: KindRightFour, WrongHand: true}, []int{10, 9, 8, 7}},
		{SlapSpec{Kind: KindLeftFour, Repeat: 1 << 1}, []int{10, 9, 7, 7}},
	}
	for i, c := range cases {
		c.spec.Identity, c.spec.Seed, c.spec.Source, c.spec.Smudges = 3, uint64(i), src, 1
		img, tr, err := RenderSlap(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if img.Rect != image.Rect(0, 0, SlapWidth, SlapHeight) {
			t.Fatalf("canvas %v", img.Rect)
		}
		if len(tr.Fingers) != len(c.want) {
			t.Fatalf("case %d: %d fingers, want %v", i, len(tr.Fingers), c.want)
		}
		for j, f := range tr.Fingers {
			if f.Position != c.want[j] {
				t.Errorf("case %d finger %d: position %d, want %d", i, j, f.Position, c.want[j])
			}
			if !f.Box.In(img.Rect) || f.Box.Dx() < 150 || f.Box.Dy() < 150 {
				t.Errorf("case %d finger %d: box %v", i, j, f.Box)
			}
			// the box holds ridge ink: its darkest pixels are dark
			dark := 0
			for y := f.Box.Min.Y; y < f.Box.Max.Y; y += 4 {
				for x := f.Box.Min.X; x < f.Box.Max.X; x += 4 {
					if img.GrayAt(x, y).Y < 100 {
						dark++
					}
				}
			}
			if dark < 200 {
				t.Errorf("case %d finger %d: only %d dark samples in its box", i, j, dark)
			}
		}
		if len(tr.Smudges) != 1 {
			t.Errorf("case %d: %d smudges", i, len(tr.Smudges))
		}
	}
	if _, _, err := RenderSlap(SlapSpec{Kind: 9, Source: src}); err == nil {
		t.Error("kind 9 accepted")
	}
	if _, _, err := RenderSlap(SlapSpec{Kind: 1, RotationDeg: 60, Source: src}); err == nil {
		t.Error("rotation 60 accepted")
	}
}

// FuzzSlapCommand: no host report, however malformed, crashes the
// scanner's firmware.
func FuzzSlapCommand(f *testing.F) {
	arm := make([]byte, slapReportSize)
	arm[0], arm[1] = outArm, 1
	binary.BigEndian.PutUint16(arm[2:], 5)
	arm[4], arm[5], arm[8] = 1, 0x0F, 1
	for _, s := range [][]byte{arm, {outIdentify, 1}, {outConfigure, 2, 1, 0xF4}, {outTrigger, 3, 0, 5},
		{outResend, 4, 0, 5, 0, 0, 0, 0, 0, 9}, {outAbort, 5}, {0x77}} {
		b := make([]byte, slapReportSize)
		copy(b, s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != slapReportSize {
			return // the transport only delivers whole reports
		}
		host, dev := net.Pipe()
		defer host.Close()
		go io.Copy(io.Discard, host)
		c := &Conn{nc: dev, size: slapReportSize, bw: newWriter(dev)}
		tiny := image.NewGray(image.Rect(0, 0, 20, 10))
		ss := &slapSession{s: &Slap{Source: func(Arm) (*image.Gray, error) { return tiny, nil }}, c: c, last: tiny, lastCap: 5}
		renders := make(chan rendered, 1)
		ss.command(t.Context(), b, renders)
		if ss.timer != nil {
			ss.timer.Stop()
		}
		dev.Close()
	})
}
