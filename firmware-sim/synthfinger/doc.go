// Package synthfinger generates synthetic fingerprint images in the manner of
// SFinGe (Cappelli, Erol, Maio, Maltoni: "Synthetic fingerprint-image
// generation", ICPR 2000, and the SFinGe chapter of the Handbook of Fingerprint
// Recognition), written from the published descriptions. The simulators and
// the committed tests use these images instead of real fingerprints.
//
// A master print exists per (identity, finger position 1..10): a pattern
// class drawn with per-finger frequencies, cores and deltas placed on a
// finger-shaped silhouette, an orientation field from the Sherlock-Monro
// zero-pole model (a sinusoidal bump model for plain arches), a smooth ridge
// period field with a per-finger mean of 8.2-9.8 px at 500 ppi (about 0.45 mm,
// the usual adult ridge spacing) varying smoothly by some 10 %, and a ridge pattern grown by
// iterative space-variant Gabor filtering from a few random seeds, so ridge
// endings and bifurcations arise by themselves. Sweat pores and up to three
// flexion creases are added to the master. Masters are deterministic in
// (identity, finger) and kept in a small LRU cache (about 0.3-0.5 s to grow
// one; an impression of a cached master takes tens of milliseconds).
//
// An Impression renders a master the way a sensor sees it: contact area
// (a nested shrink of the pad outline), pressure (light: pale, thin, broken
// ridges; heavy: wide ridges and inked valleys), dryness (thin, broken,
// grainy ridges) or wetness (thick ridges, merged smudges), blur on top of
// the sensor optics' own 0.5 px, Gaussian noise, rotation, off-centre
// placement, platen dirt (specks and latent smears), and a small elastic
// skin distortion that differs per impression seed, at any size (416x560
// by default, 256x288 for R30x modules): dark ridges on a light background.
//
// Impression.Ink (opt-in; zero keeps the live-scan output byte for byte)
// renders the same finger as an inked ten-print card on a flatbed scanner:
// off-white fibrous card, near-black grainy ink, over- and under-inked
// patches, ink spatter around the print's edge and, on some cards, part of
// the printed caption. Quality models fitted on live scans alone never see
// such prints (cmd/fitquality mixes both styles).
//
// # Ground-truth quality label
//
// Every image carries a Label with Quality = round(100 * Usable * Clarity):
//
//   - Usable: visible contact pixels (contact weight >= 0.5 inside the image)
//     divided by FullContactArea (about 300 mm², a whole flat fingertip),
//     capped at 1. It falls with Contact and as the finger slides off the
//     image, and it is the same for the same contact whatever the image
//     size: a small sensor's window holds less of the finger.
//   - Clarity = Cb * Cn * Cm * Cp * Cd * Ci, each in (0, 1]:
//     Cb = exp(-2 pi^2 Blur^2 / T^2), the Gaussian blur's transfer function at
//     the ridge frequency 1/T (T = the finger's mean ridge period);
//     Cn = 1 / (1 + 1.5 (Noise/A)^2), with A = 100*Cb grey levels, the ridge
//     amplitude left after blur (a signal-to-noise term);
//     Cm = 1 - 0.8 |Moisture|^1.3 (dry breaks and wet merges);
//     Cp = 1 - 0.7 (2 |Pressure - 0.5|)^1.5 (too light or too heavy);
//     Cd = 1 - 0.4 Dirt;
//     Ci = 1 - 0.15 Ink (grain and uneven inking hide a little detail, but
//     the ridges stay as readable as on a live scan).
//
// Each factor is monotone in its own parameter, so the label falls whenever
// any one degradation gets worse with the others fixed. The weights are
// this package's own choice (no standard defines them), set so that the
// calibration set's degradation levels span most of the 0..100 range. Rotation alone does
// not lower the label except through the area it pushes out of the image.
package synthfinger
