package finger

// Thresholds of the actionable reasons, on the features of a print that
// passed the gate.
const (
	dirtStdMin  = 6.0 // a background block with this much smoothed texture is dirt or a latent print
	dirtMeanMax = 60  // or this dark: a smear
)

func reasons(f *Features) []Reason {
	var r []Reason
	return r
}
