package face

// #cgo pkg-config: opencv4
// #cgo CXXFLAGS: -std=c++11
// #include "threads.h"
import "C"

// SetOpenCVThreads sets how many threads OpenCV's own parallel loops use
// (cv::setNumThreads; gocv v0.31 does not expose it). 0 or 1 runs them on
// the calling thread. The station analyses one frame at a time on a
// machine it shares with other work; OpenCV's default, one thread per
// core, then mostly spins waiting for busy cores, so NewAnalyzer sets 1
// unless Options.OpenCVThreads says otherwise.
func SetOpenCVThreads(n int) { C.face_set_cv_threads(C.int(n)) }

// OpenCVThreads returns OpenCV's current thread count.
func OpenCVThreads() int { return int(C.face_get_cv_threads()) }
