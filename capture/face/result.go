package face

import (
	"math"
	"strings"
)

// Component is one quality measure of a frame.
type Component struct {
	ID   string  `json:"id"`   // stable name, e.g. "inter_eye_distance"
	Raw  float64 `json:"raw"`  // measured value, in the unit its ID implies
	Unit string  `json:"unit"` // unit of Raw
	// Score is 0-100, higher is better; 50 sits at the threshold.
	Score int  `json:"score"`
	Pass  bool `json:"pass"`
	// Measured is false when the frame gave nothing to measure (no face,
	// eyes not found): Raw is then 0 and the component does not fail.
	Measured bool   `json:"measured"`
	Reason   string `json:"reason,omitempty"` // code of the reason it fails with
}

// Reason is something the officer should have the applicant change.
// Code is stable ("face.too_far") so the operator UI can translate it;
// Message is the English text.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Reason codes and their English messages, in the order the officer
// should deal with them.
var reasonText = []Reason{
	{"face.none", "No face found: ask the person to sit in front of the camera"},
	{"face.multiple", "More than one face in view: only the applicant may be in the picture"},
	{"face.too_far", "Move closer to the camera"},
	{"face.too_close", "Move back from the camera"},
	{"face.cropped", "Part of the head is outside the picture: centre the person"},
	{"face.off_centre", "Centre the face in the picture"},
	{"image.low_resolution", "Too few pixels on the face: use a higher camera resolution or move closer"},
	{"pose.roll", "Keep the head straight: it is tilted to one side"},
	{"pose.yaw", "Look straight at the camera"},
	{"pose.pitch", "Keep the chin level"},
	{"eyes.closed", "Keep the eyes open"},
	{"mouth.open", "Close the mouth"},
	{"light.too_dark", "Too dark: add light on the face"},
	{"light.too_bright", "Too bright: reduce the light or the camera exposure"},
	{"light.low_contrast", "Flat, low-contrast picture: check the lighting and camera settings"},
	{"light.uneven", "Light is uneven: one side of the face is darker"},
	{"image.blurred", "The picture is blurred: hold still, or check the camera focus"},
	{"colour.unnatural", "Colours look unnatural: check the camera's white balance"},
	{"background.busy", "Background is not plain: use the plain backdrop"},
	{"image.compressed", "Strong compression artefacts: raise the camera's image quality"},
}

// ReasonMessage returns the English text of a reason code.
func ReasonMessage(code string) string {
	for _, r := range reasonText {
		if r.Code == code {
			return r.Message
		}
	}
	return code
}

// ReasonCodes lists every reason code, in the order reasons are reported.
func ReasonCodes() []string {
	out := make([]string, len(reasonText))
	for i, r := range reasonText {
		out[i] = r.Code
	}
	return out
}

// Result is the outcome of analysing one frame.
type Result struct {
	Width, Height int
	// Faces found, largest first; the checks are about Faces[0].
	Faces      []Face      `json:"faces"`
	Components []Component `json:"components"`
	Pass       bool        `json:"pass"`
	Reasons    []Reason    `json:"reasons,omitempty"`
	// Score is the mean of the measured components' scores, 0-100; it
	// ranks passing frames against each other.
	Score int `json:"score"`
}

// Component returns the component with the given ID.
func (r *Result) Component(id string) (Component, bool) {
	for _, c := range r.Components {
		if c.ID == id {
			return c, true
		}
	}
	return Component{}, false
}

// Failing returns the IDs of the failing components.
func (r *Result) Failing() []string {
	var out []string
	for _, c := range r.Components {
		if !c.Pass {
			out = append(out, c.ID)
		}
	}
	return out
}

// HasReason reports whether the verdict gives the reason code.
func (r *Result) HasReason(code string) bool {
	for _, x := range r.Reasons {
		if x.Code == code {
			return true
		}
	}
	return false
}

// ComponentIDs lists every component in the order results carry them.
var ComponentIDs = []string{
	"single_face", "inter_eye_distance", "head_size", "leftward_crop", "rightward_crop",
	"margin_above", "margin_below", "centred", "roll", "yaw", "pitch", "eyes_open",
	"mouth_closed", "sharpness", "luminance_mean", "luminance_variance", "under_exposure",
	"over_exposure", "dynamic_range", "illumination_uniformity", "natural_colour",
	"background_uniformity", "compression_artifacts",
}

// bound scores raw against [lo, hi] (NaN: no bound). width is how far
// past a bound the score falls from 50 to about 12, or rises to about 88.
func bound(raw, lo, hi, width float64) (int, bool) {
	s := 1.0
	pass := true
	if !math.IsNaN(lo) {
		s = math.Min(s, sigmoid((raw-lo)/width))
		pass = pass && raw >= lo
	}
	if !math.IsNaN(hi) {
		s = math.Min(s, sigmoid((hi-raw)/width))
		pass = pass && raw <= hi
	}
	score := int(math.Round(100 * s))
	// Keep score and verdict consistent at the rounding edge.
	if pass && score < 50 {
		score = 50
	}
	if !pass && score >= 50 {
		score = 49
	}
	return score, pass
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-2*x)) }

var none = math.NaN()

// finish fills in components, verdict and reasons; m is nil when no face
// was found.
func (r *Result) finish(t Thresholds, m *measures) {
	add := func(id string, raw float64, unit string, measured bool, lo, hi, width float64, reason string) {
		c := Component{ID: id, Raw: raw, Unit: unit, Measured: measured, Pass: true, Score: 0}
		if measured {
			c.Score, c.Pass = bound(raw, lo, hi, width)
		}
		if !c.Pass {
			c.Reason = reason
		}
		r.Components = append(r.Components, c)
	}
	nf := float64(len(r.Faces))
	single := Component{ID: "single_face", Raw: nf, Unit: "faces", Measured: true, Pass: nf == 1}
	switch {
	case nf == 1:
		single.Score = 100
	case nf == 0:
		single.Reason = "face.none"
	default:
		single.Reason = "face.multiple"
	}
	r.Components = append(r.Components[:0], single)
	ok := m != nil
	if m == nil {
		m = &measures{}
	}
	minEyes := float64(t.MinEyesFound)
	rollRaw := math.Abs(m.roll)
	add("inter_eye_distance", m.ied, "px", ok, t.MinInterEyePx, none, t.MinInterEyePx/4, "image.low_resolution")
	add("head_size", m.headSize, "ratio", ok, t.MinHeadSize, t.MaxHeadSize, 0.05, "")
	add("leftward_crop", m.left, "ied", ok, t.MinSideMargin, none, 0.3, "face.cropped")
	add("rightward_crop", m.right, "ied", ok, t.MinSideMargin, none, 0.3, "face.cropped")
	add("margin_above", m.above, "ied", ok, t.MinMarginAbove, none, 0.3, "face.cropped")
	add("margin_below", m.below, "ied", ok, t.MinMarginBelow, none, 0.5, "face.cropped")
	off := math.Max(math.Abs(m.centreX-0.5)/math.Max(t.MaxCentreOffsetX, 1e-9),
		math.Max((t.MinCentreY-m.centreY)/0.1+1, (m.centreY-t.MaxCentreY)/0.1+1))
	// Centring combines both axes: 1 is at the limit.
	add("centred", off, "limit", ok, none, 1, 0.3, "face.off_centre")
	add("roll", rollRaw, "deg", ok && m.rollKnown, none, t.MaxRollDeg, 3, "pose.roll")
	add("yaw", math.Abs(m.yaw), "deg", ok, none, t.MaxYawDeg, 5, "pose.yaw")
	add("pitch", math.Abs(m.pitch), "deg", ok, none, t.MaxPitchDeg, 5, "pose.pitch")
	add("eyes_open", float64(m.eyesFound), "eyes", ok && t.MinEyesFound > 0, minEyes, none, 0.5, "eyes.closed")
	add("mouth_closed", m.mouthDark, "ratio", ok && m.mouthKnwn, none, t.MaxMouthDark, 0.08, "mouth.open")
	add("sharpness", m.sharpness, "laplacian_var", ok, t.MinSharpness, none, t.MinSharpness/2, "image.blurred")
	lumReason := "light.too_dark"
	if m.lumMean > t.MaxLuminance {
		lumReason = "light.too_bright"
	}
	add("luminance_mean", m.lumMean, "0-1", ok, t.MinLuminance, t.MaxLuminance, 0.08, lumReason)
	add("luminance_variance", m.lumVar, "0-1", ok, t.MinLuminanceVariance, none, t.MinLuminanceVariance/2, "light.low_contrast")
	add("under_exposure", m.under, "ratio", ok, none, t.MaxUnderExposed, 0.05, "light.too_dark")
	add("over_exposure", m.over, "ratio", ok, none, t.MaxOverExposed, 0.05, "light.too_bright")
	add("dynamic_range", m.dynRange, "bits", ok, t.MinDynamicRange, none, 0.5, "light.low_contrast")
	add("illumination_uniformity", m.uniformity, "ratio", ok, t.MinIlluminationUniformity, none, 0.1, "light.uneven")
	colOff := math.Max(math.Max(t.MinColourA-m.colA, m.colA-t.MaxColourA), math.Max(t.MinColourB-m.colB, m.colB-t.MaxColourB))
	add("natural_colour", colOff, "lab_out_of_range", ok, none, 0, 5, "colour.unnatural")
	add("background_uniformity", m.bgGrad, "grey/px", ok && m.bgKnown, none, t.MaxBackgroundGradient, t.MaxBackgroundGradient/4, "background.busy")
	add("compression_artifacts", m.blockiness, "ratio", ok && m.blockKnown, none, t.MaxBlockiness, 0.2, "image.compressed")

	// Head size decides between "too far" and "too close".
	for i := range r.Components {
		c := &r.Components[i]
		if c.ID == "head_size" && !c.Pass {
			c.Reason = "face.too_far"
			if m.headSize > t.MaxHeadSize {
				c.Reason = "face.too_close"
			}
		}
	}
	// A face too small in the frame is "move closer", not "poor camera".
	if hs, _ := r.Component("head_size"); !hs.Pass {
		for i := range r.Components {
			if r.Components[i].ID == "inter_eye_distance" && !r.Components[i].Pass {
				r.Components[i].Reason = hs.Reason
			}
		}
	}

	r.Pass = true
	seen := map[string]bool{}
	total, n := 0, 0
	for _, c := range r.Components {
		if c.Measured {
			total += c.Score
			n++
		}
		if !c.Pass {
			r.Pass = false
			seen[c.Reason] = true
		}
	}
	if n > 0 {
		r.Score = total / n
	}
	r.Reasons = nil
	for _, rt := range reasonText {
		if seen[rt.Code] {
			r.Reasons = append(r.Reasons, rt)
		}
	}
}

// Summary is the verdict in one line: "pass" or the reasons' messages.
func (r *Result) Summary() string {
	if r.Pass {
		return "pass"
	}
	msgs := make([]string, len(r.Reasons))
	for i, x := range r.Reasons {
		msgs[i] = x.Message
	}
	return strings.Join(msgs, "; ")
}
