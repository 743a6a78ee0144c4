// Package finger scores the quality of 8-bit grey fingerprint images, in the
// family of NIST NFIQ 2 (ISO/IEC 29794-4:2024), and rejects images that are not
// fingerprints before any score is given.
//
// Assess takes an *image.Gray and its resolution in ppi (resampled to 500 ppi
// when it differs) and returns a Result: a 0-100 score, the per-feature
// values, the foreground (region of interest) mask and reasons an officer can
// act on ("press harder", "finger too dry", ...).
//
// The pipeline, all pure functions on one image (no I/O, no goroutines):
//
//   - segmentation on 16x16 blocks of a lightly smoothed copy (block grey
//     level standard deviation against a threshold that adapts to faint
//     prints), small components dropped and holes filled;
//   - contrast: image mean (NFIQ 2 "Mu") and mean of block means ("MMB");
//   - orientation from the gradient structure tensor: orientation certainty
//     level (OCL, ISO/IEC 29794-4 annex on OCL: 1 - λmin/λmax per 32x32 block),
//     ridge orientation coherence, and orientation flow (OFL: the mean angle
//     between neighbouring blocks above a 4° floor);
//   - a ridge profile per 32x32 block, taken across the ridges, from which
//     come local clarity (LCS), frequency domain analysis (FDA), the ridge
//     period and ridge-valley uniformity (RVU, ridge width over valley width);
//   - minutiae from this package's own extractor: local-mean binarisation,
//     Zhang-Suen thinning, crossing number, removal of spurs, short ridges,
//     ridge breaks and bridges; the count and the count in a 200x200 px
//     rectangle at the minutiae's centre of mass (as NFIQ 2's
//     "COMMinRect200x200").
//
// The not-a-fingerprint gate (gate.go) runs before any score and needs all
// of: enough textured foreground; clear ridge blocks (one orientation, a
// profile that classifies its own pixels, a dominant frequency at a finger's
// scale) over a sixth of it; a smooth ridge flow (OFL); a fingerprint's
// clarity and ridge spacing; orientations that turn; and ridges that end or
// fork (minutiae density). Blank, uniform, gradient, noise, fabric, blobs,
// text, faces and other photos, straight stripes and concentric rings each
// fail at least one (gate_test.go). The very worst prints (NFIQ 2 about 0-6)
// fail too and are refused rather than scored.
//
// The score is a logistic model over standardised features (model.go) whose
// coefficients live in model_gen.go. That file is generated, in the open, by
// cmd/fitquality from the project's own synthetic prints
// (firmware-sim/synthfinger, labelled impressions: live scans, and a quarter
// rendered as scanned ink cards). To re-fit, from the module root:
//
//	go run ./cmd/fitquality -out capture/finger/model_gen.go
//
// (-n and -seed change the training set size and seed; -cache FILE keeps
// the measured impressions so that model variants can be compared quickly). The agreement
// with NFIQ 2 is checked, not fitted, by TestCalibrationNFIQ2 when the shared
// calibration set is present.
package finger
