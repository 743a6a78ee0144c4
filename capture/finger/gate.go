package finger

import "fmt"

// A 32x32 block is "ridge-like" when it shows one clear orientation, a
// profile that classifies its own pixels well and a dominant frequency at a
// fingerprint's scale. Thresholds chosen on synthetic prints and generated
// negatives (see gate_test.go).
const (
	ridgeOCLMin = 0.35
	ridgeLCSMin = 0.70
	ridgeFDAMin = 0.25
)

// Gate thresholds: all must hold for an image to be scored as a fingerprint.
const (
	// gateMinPixels: below 1/3 of a 10x12 mm plain-impression area (at 500
	// ppi ~ 200x240 px) there is no print to score; 8000 px is ~ 90x90 px.
	gateMinPixels = 8000
	// gateRidgeFrac: share of foreground blocks that must be ridge-like. Poor
	// prints still have ridges in a good part of their area; noise, text,
	// photos and blobs have almost none.
	gateRidgeFrac = 0.05
	// gateMinSpread: ridge orientations of a finger turn (loops, whorls and
	// even arches span tens of degrees); parallel stripes do not.
	gateMinSpread = 0.06
	// gateMinDensity: minutiae per 10 000 px² of foreground. Clean fingers
	// show ~3-5 per 10 000 px² at 500 ppi (poor ones many more, spurious);
	// ring and stripe patterns have none.
	gateMinDensity = 0.25
)

// gate returns why the measured image is not a fingerprint, or "".
func gate(f *Features) string {
	switch {
	case f.ForegroundPixels < gateMinPixels:
		return fmt.Sprintf("no finger area: %d px of textured foreground (need %d)", f.ForegroundPixels, gateMinPixels)
	case f.RidgeFraction < gateRidgeFrac:
		return fmt.Sprintf("no ridge pattern: %.0f%% of the foreground has fingerprint ridges (need %.0f%%)", 100*f.RidgeFraction, 100*gateRidgeFrac)
	case f.RidgePeriod < 4 || f.RidgePeriod > 16:
		return fmt.Sprintf("line spacing %.1f px is not a ridge spacing at 500 ppi", f.RidgePeriod)
	case f.OrientationSpread < gateMinSpread:
		return fmt.Sprintf("lines all run one way (orientation spread %.3f)", f.OrientationSpread)
	case f.MinutiaeDensity < gateMinDensity:
		return fmt.Sprintf("ridges neither end nor fork (%.2f minutiae per 10000 px²)", f.MinutiaeDensity)
	}
	return ""
}
