package hidsim

import (
	"image/png"
	"os"
	"testing"
)

func TestDumpSlap(t *testing.T) {
	if os.Getenv("HIDSIM_DUMP") == "" {
		t.Skip("set HIDSIM_DUMP=dir to write example slaps")
	}
	for i, sp := range []SlapSpec{
		{Identity: 5, Kind: KindRightFour, RotationDeg: 25, Smudges: 2, Seed: 1, Source: QuickSource()},
		{Identity: 5, Kind: KindLeftFour, RotationDeg: -30, Missing: 4, Seed: 2},
		{Identity: 5, Kind: KindThumbs, RotationDeg: 10, Seed: 3, Source: QuickSource()},
	} {
		img, tr, err := RenderSlap(sp)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d: %+v", i, tr.Fingers)
		f, _ := os.Create(os.Getenv("HIDSIM_DUMP") + "/slap" + string(rune('0'+i)) + ".png")
		png.Encode(f, img)
		f.Close()
	}
}
