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
	// gateRidgeFrac: share of foreground blocks that must be ridge-like.
	// Prints that NFIQ 2 still scores above ~5 keep ridges in a sixth of
	// their area or more; noise, fabric and blobs have none, text, photos
	// and paintings up to ~0.14 (edges and hair that happen to be striped).
	// The very worst prints (NFIQ 2 0-6: dry skin with most ridges
	// broken) fall below too and are refused rather than scored.
	gateRidgeFrac = 0.15
	// gateMaxOFL: the ridge flow of a finger turns smoothly from block to
	// block (OFL up to ~0.3 even for wet or dry prints); text, photos and
	// noise jump (0.4-0.55).
	gateMaxOFL = 0.38
	// gateMinSpread: ridge orientations of a finger turn; straight parallel
	// stripes give 0. A small-sensor crop of an arch can be as low as 0.05,
	// so the bar is low and the minutiae density rule does the rest.
	gateMinSpread = 0.01
	// gateMinLCS: mean local clarity over the foreground. LCS is 0 in
	// blocks whose ridge and valley widths are not a finger's, so photos
	// (edges, hair, shading) stay near 0.3 while even dry, wet or noisy
	// prints keep 0.4 or more; only prints blurred beyond use (sigma >= 3
	// px, which NFIQ 2 also refuses) fall below.
	gateMinLCS = 0.38
	// gateMaxPeriod: the median ridge period must be a finger's: 7-12 px
	// at 500 ppi for adults, less for children; 14 px leaves room for
	// thumbs and resampling error.
	gateMaxPeriod = 14
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
	case f.OFL > gateMaxOFL:
		return fmt.Sprintf("no continuous ridge flow: orientation flow %.2f (at most %.2f)", f.OFL, gateMaxOFL)
	case f.LCS < gateMinLCS:
		return fmt.Sprintf("no clear ridges: local clarity %.2f (need %.2f)", f.LCS, gateMinLCS)
	case f.RidgePeriod < 4 || f.RidgePeriod > gateMaxPeriod:
		return fmt.Sprintf("line spacing %.1f px is not a ridge spacing at 500 ppi", f.RidgePeriod)
	case f.OrientationSpread < gateMinSpread:
		return fmt.Sprintf("lines all run one way (orientation spread %.3f)", f.OrientationSpread)
	case f.MinutiaeDensity < gateMinDensity:
		return fmt.Sprintf("ridges neither end nor fork (%.2f minutiae per 10000 px²)", f.MinutiaeDensity)
	}
	return ""
}
