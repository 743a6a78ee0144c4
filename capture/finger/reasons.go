package finger

// Thresholds of the actionable reasons, on the features of a print that
// passed the gate. They were set on synthfinger impressions with one
// degradation each (reasons_test.go checks each reason on such prints and
// that a good impression gets none).
const (
	// A background block is dirty when its smoothed texture exceeds both
	// dirtStdMin and dirtNoiseX times the median of the background (sensor
	// noise is everywhere alike; dirt and latent prints are patches), or
	// when it is dirtMeanMax dark (a smear).
	dirtStdMin  = 6.0
	dirtNoiseX  = 2.0
	dirtMeanMax = 60

	// nominalPrintPx: the area of a full plain impression at 500 ppi
	// (about 13x17 mm, 256x330 px); a smaller sensor is judged on its own
	// area instead.
	nominalPrintPx = 256 * 330
	// pressAreaMin: a print covering less than this share of what the
	// sensor could show is a light touch (synthetic prints at 30% contact
	// cover ~0.5-0.65 of it, full contact 1.4-2).
	pressAreaMin = 0.7
	// pressContrastMin: foreground block deviation (grey levels) below
	// which ridges are faint.
	pressContrastMin = 22
	// dryRatioMax, wetRatioMin: ridge width / valley width; a good print is
	// near 1. Dry skin prints thin broken ridges, wet skin fat merged ones.
	dryRatioMax = 0.72
	wetRatioMin = 1.25
	// faintMMBMin, faintDensityMax: a pale print whose ridges still run
	// unbroken (few minutiae) was pressed too lightly; a pale print with
	// many ridge breaks is dry skin.
	faintMMBMin     = 185
	faintDensityMax = 6
	// wetMMBMax: foreground this dark on average is smeared.
	wetMMBMax = 95
	// dryLCSMax and dryDensityMin: broken ridges show as poor clarity with
	// many (spurious) ridge endings on a light print.
	dryLCSMax     = 0.72
	dryDensityMin = 10
	dryMMBMin     = 150
	// centreOffsetMax: centroid offset in half-diagonals.
	centreOffsetMax = 0.2
	// rollAspectMax: a plain impression is taller than wide; much wider
	// than tall means a rolled or sideways finger.
	rollAspectMax = 1.35
	// dirtyMax: share of the background with texture or smears.
	dirtyMax = 0.12
	// minBackground: the dirt rule needs this share of background blocks.
	minBackground = 0.05
)

func reasons(f *Features) []Reason {
	var r []Reason
	full := float64(min(f.Width*f.Height, nominalPrintPx))
	faint := f.MeanBlockMean > faintMMBMin
	if float64(f.ForegroundPixels) < pressAreaMin*full || f.Contrast < pressContrastMin ||
		faint && f.MinutiaeDensity < faintDensityMax {
		r = append(r, PressHarder)
	}
	switch {
	case f.RidgeRatio > 0 && f.RidgeRatio < dryRatioMax,
		faint && f.MinutiaeDensity >= faintDensityMax,
		f.LCS < dryLCSMax && f.MinutiaeDensity > dryDensityMin && f.MeanBlockMean > dryMMBMin:
		r = append(r, TooDry)
	case f.RidgeRatio > wetRatioMin, f.MeanBlockMean > 0 && f.MeanBlockMean < wetMMBMax:
		r = append(r, TooWet)
	}
	if f.CentreOffset > centreOffsetMax {
		r = append(r, MoveToCentre)
	}
	if f.Aspect > rollAspectMax && f.ForegroundFraction < 0.85 {
		r = append(r, RollLess)
	}
	if f.DirtyBackground > dirtyMax && f.ForegroundFraction < 1-minBackground {
		r = append(r, CleanPlaten)
	}
	return r
}
