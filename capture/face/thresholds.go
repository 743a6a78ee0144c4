package face

// Thresholds are the pass limits of each component. The defaults accept
// the two public-domain reference portraits in testdata/faces (neither is a
// strict ICAO token image: the astronaut's face is small and high in the
// frame, both have a flag behind) and reject their degraded copies; a
// station with a controlled booth should tighten them in its config.
type Thresholds struct {
	// Minimum inter-eye distance in pixels. ISO/IEC 19794-5:2011 §8.4.1
	// asks 90 px for a full-frontal image and 60 px at the least; live
	// preview frames are checked against this lower figure so that a
	// person still sitting down is not told the camera is too poor.
	MinInterEyePx float64 `toml:"min_inter_eye_px"`
	// Face box height as a fraction of the frame height.
	MinHeadSize float64 `toml:"min_head_size"`
	MaxHeadSize float64 `toml:"max_head_size"`
	// OFIQ crop/margin measures: distance from the eye midpoint to the
	// left/right/top border, and to the bottom border, in inter-eye
	// distances. About one inter-eye distance reaches the side of the head.
	MinSideMargin  float64 `toml:"min_side_margin"`
	MinMarginAbove float64 `toml:"min_margin_above"`
	MinMarginBelow float64 `toml:"min_margin_below"`
	// Eye-midpoint position as a fraction of the frame: largest horizontal
	// distance from the centre, and the allowed vertical band.
	MaxCentreOffsetX float64 `toml:"max_centre_offset_x"`
	MinCentreY       float64 `toml:"min_centre_y"`
	MaxCentreY       float64 `toml:"max_centre_y"`
	// Pose limits in degrees. ISO/IEC 19794-5:2005 §7.2.2: roll within
	// ±8°, yaw and pitch within ±5°. Yaw and pitch here are estimates from
	// the eye positions in the face box, so their default limits are wider.
	MaxRollDeg  float64 `toml:"max_roll_deg"`
	MaxYawDeg   float64 `toml:"max_yaw_deg"`
	MaxPitchDeg float64 `toml:"max_pitch_deg"`
	// Eyes-open heuristic: how many eyes the eye cascade (trained on open
	// eyes) must find; 0 disables the check. One: a blink closes both,
	// while spectacles or sensor noise hide one eye from the cascade now
	// and then.
	MinEyesFound int `toml:"min_eyes_found"`
	// Largest share of dark pixels in the mouth region.
	MaxMouthDark float64 `toml:"max_mouth_dark"`
	// Variance of the Laplacian of the face scaled to 128 px wide.
	MinSharpness float64 `toml:"min_sharpness"`
	// Mean face luminance, 0-1 (OFIQ LuminanceMean).
	MinLuminance float64 `toml:"min_luminance"`
	MaxLuminance float64 `toml:"max_luminance"`
	// Variance of face luminance in 0-1 units (OFIQ LuminanceVariance).
	MinLuminanceVariance float64 `toml:"min_luminance_variance"`
	// Largest share of face pixels below 25/255 and above 247/255 (OFIQ
	// under-/over-exposure prevention use the same idea of dark/bright tails).
	MaxUnderExposed float64 `toml:"max_under_exposed"`
	MaxOverExposed  float64 `toml:"max_over_exposed"`
	// Entropy of the face's luminance histogram in bits (OFIQ DynamicRange).
	MinDynamicRange float64 `toml:"min_dynamic_range"`
	// Darker cheek's mean luminance over the brighter one's.
	MinIlluminationUniformity float64 `toml:"min_illumination_uniformity"`
	// Mean CIELAB a* and b* of the face centre (OFIQ NaturalColour).
	MinColourA float64 `toml:"min_colour_a"`
	MaxColourA float64 `toml:"max_colour_a"`
	MinColourB float64 `toml:"min_colour_b"`
	MaxColourB float64 `toml:"max_colour_b"`
	// Mean luminance gradient length in the background (OFIQ
	// BackgroundUniformity), in grey levels per pixel.
	MaxBackgroundGradient float64 `toml:"max_background_gradient"`
	// Mean step across 8-px JPEG block borders over the mean step inside
	// blocks, on the face.
	MaxBlockiness float64 `toml:"max_blockiness"`
}

// DefaultThresholds returns the thresholds the package uses when none are
// configured. Each figure was set between the reference portraits and
// their degraded copies in testdata/faces (see expected.csv).
func DefaultThresholds() Thresholds {
	return Thresholds{
		MinInterEyePx:             30,
		MinHeadSize:               0.15,
		MaxHeadSize:               0.80,
		MinSideMargin:             0.95,
		MinMarginAbove:            1.0,
		MinMarginBelow:            1.8,
		MaxCentreOffsetX:          0.22,
		MinCentreY:                0.12,
		MaxCentreY:                0.60,
		MaxRollDeg:                8,
		MaxYawDeg:                 15,
		MaxPitchDeg:               15,
		MinEyesFound:              1,
		MaxMouthDark:              0.25,
		MinSharpness:              80,
		MinLuminance:              0.42,
		MaxLuminance:              0.85,
		MinLuminanceVariance:      0.008,
		MaxUnderExposed:           0.10,
		MaxOverExposed:            0.10,
		MinDynamicRange:           5.5,
		MinIlluminationUniformity: 0.70,
		MinColourA:                -5,
		MaxColourA:                40,
		MinColourB:                -5,
		MaxColourB:                45,
		MaxBackgroundGradient:     20,
		MaxBlockiness:             1.6,
	}
}
