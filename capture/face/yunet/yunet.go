// Package yunet wraps OpenCV's cv::FaceDetectorYN (OpenCV 4.6, Debian's
// libopencv-dev), which gocv v0.31 does not expose, as a face.Detector.
//
// It is optional: the station uses it only when a YuNet ONNX model path is
// configured (face_detection_yunet_2022mar.onnx works with OpenCV 4.6; the
// 2023 models do not). The model file is not part of this repository.
package yunet

// #cgo pkg-config: opencv4
// #cgo CXXFLAGS: -std=c++11
// #include <stdlib.h>
// #include "yunet.h"
import "C"

import (
	"errors"
	"fmt"
	"image"
	"os"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/capture/face"
)

// Options tune the detector.
type Options struct {
	// ScoreThreshold: faces below it are ignored. 0: 0.9, OpenCV's usual
	// threshold; below it YuNet reports weak boxes on plain backdrops.
	ScoreThreshold float64
	// NMSThreshold: overlap above which boxes are merged. 0: 0.3.
	NMSThreshold float64
}

// maxFaces bounds the faces read back per frame.
const maxFaces = 16

// Detector is a YuNet face detector. It is not safe for concurrent use.
type Detector struct {
	h   C.YuNet
	out [maxFaces * 15]C.float
}

// New loads a YuNet model file.
func New(model string, opts Options) (*Detector, error) {
	if _, err := os.Stat(model); err != nil {
		return nil, fmt.Errorf("yunet model: %w (set the model path in the config, or leave it empty to use the OpenCV cascades)", err)
	}
	if opts.ScoreThreshold <= 0 {
		opts.ScoreThreshold = 0.9
	}
	if opts.NMSThreshold <= 0 {
		opts.NMSThreshold = 0.3
	}
	cm := C.CString(model)
	defer C.free(unsafe.Pointer(cm))
	var errBuf [256]C.char
	h := C.yunet_new(cm, C.float(opts.ScoreThreshold), C.float(opts.NMSThreshold), 5000, &errBuf[0], C.int(len(errBuf)))
	if h == nil {
		return nil, fmt.Errorf("yunet model %s: %s", model, C.GoString(&errBuf[0]))
	}
	return &Detector{h: h}, nil
}

// Detect implements face.Detector on a BGR image.
func (d *Detector) Detect(bgr, _ gocv.Mat) ([]face.Face, error) {
	if d.h == nil {
		return nil, errors.New("yunet: detector closed")
	}
	if bgr.Empty() || bgr.Type() != gocv.MatTypeCV8UC3 || !bgr.IsContinuous() {
		return nil, errors.New("yunet: need a continuous 8-bit BGR image")
	}
	pix, err := bgr.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	var errBuf [256]C.char
	n := C.yunet_detect(d.h, (*C.uchar)(unsafe.Pointer(&pix[0])), C.int(bgr.Cols()), C.int(bgr.Rows()), C.int(bgr.Cols()*3),
		&d.out[0], maxFaces, &errBuf[0], C.int(len(errBuf)))
	if n < 0 {
		return nil, fmt.Errorf("yunet: %s", C.GoString(&errBuf[0]))
	}
	faces := make([]face.Face, 0, int(n))
	for i := 0; i < int(n); i++ {
		r := d.out[i*15 : i*15+15]
		v := func(j int) float64 { return float64(r[j]) }
		f := face.Face{
			Box:          image.Rect(int(v(0)), int(v(1)), int(v(0)+v(2)), int(v(1)+v(3))),
			Score:        v(14),
			Eyes:         [2]face.PointF{{X: v(4), Y: v(5)}, {X: v(6), Y: v(7)}},
			Nose:         face.PointF{X: v(8), Y: v(9)},
			Mouth:        [2]face.PointF{{X: v(10), Y: v(11)}, {X: v(12), Y: v(13)}},
			HasLandmarks: true,
		}
		// Image-left first, whatever the model's order.
		if f.Eyes[0].X > f.Eyes[1].X {
			f.Eyes[0], f.Eyes[1] = f.Eyes[1], f.Eyes[0]
		}
		if f.Mouth[0].X > f.Mouth[1].X {
			f.Mouth[0], f.Mouth[1] = f.Mouth[1], f.Mouth[0]
		}
		faces = append(faces, f)
	}
	return faces, nil
}

// Close releases the model.
func (d *Detector) Close() error {
	if d.h != nil {
		C.yunet_free(d.h)
		d.h = nil
	}
	return nil
}
