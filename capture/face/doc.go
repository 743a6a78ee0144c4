// Package face checks portrait quality for ID documents: it finds the face
// in a frame, measures the components that ICAO 9303 part 9, ISO/IEC
// 19794-5 and ISO/IEC 29794-5 (BSI OFIQ) describe — one face present, its
// size and position, pose, eyes and mouth, sharpness, exposure, lighting,
// colour, background and compression — and turns them into a verdict with
// reasons an officer can act on ("move closer", "light is uneven").
//
// Each component has a raw value, a 0-100 score (higher is better, 50 at
// the configured threshold) and a pass/fail. Where OFIQ defines a measure
// the raw value follows that definition; where OFIQ needs a neural network
// (pose, eyes, mouth, face parsing) this package uses cheaper heuristics on
// cascade detections and says so in the component's comment.
//
// The default detector uses the OpenCV cascades installed with Debian's
// opencv-data package; a YuNet model (see package yunet) may be configured
// instead. An Analyzer holds OpenCV state and scratch images and is not safe
// for concurrent use; the package starts no goroutines.
//
// Still images are analysed thoroughly at full resolution. Live video
// (Options.TrackEvery) takes the path commercial capture stations take:
// frames wider than twice Options.AnalysisWidth are analysed at half size
// (JPEG decoded so by libjpeg's DCT scaling; for decoded frames the
// sharpness and compression checks still read the face at full
// resolution), the face and its eyes are followed between frames and
// searched only near where they were (an eye the cascades miss is found
// again by its patch from the last frame in which they found both, which
// a closing lid no longer matches), and the whole frame is searched
// coarsely every TrackEvery-th frame. Positions are always reported in
// full-frame pixels, so the kept frame and its crop are at full
// resolution.
//
// AutoCapture picks the best frame of a stable run of passing frames, and
// Crop and EncodeJPEG produce the ICAO token/full-frontal portrait within a
// byte budget for the chip's DG2.
package face
