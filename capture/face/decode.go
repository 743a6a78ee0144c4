package face

// #cgo pkg-config: opencv4
// #cgo CXXFLAGS: -std=c++11
// #include "decode.h"
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"gocv.io/x/gocv"
)

// decodeInto decodes JPEG or PNG bytes into dst, reusing dst's pixel
// buffer from frame to frame (gocv's IMDecode allocates a new image each
// call). flags are gocv's IMRead flags: IMReadReducedColor2 and 4 make
// libjpeg decode at a half or a quarter of the size by scaling its inverse
// DCT, which costs a fraction of a full decode.
func decodeInto(data []byte, flags gocv.IMReadFlag, dst *gocv.Mat) error {
	if len(data) == 0 {
		return errors.New("face: empty image")
	}
	var errBuf [256]C.char
	rc := C.face_imdecode((*C.uchar)(unsafe.Pointer(&data[0])), C.int(len(data)), C.int(flags),
		unsafe.Pointer(dst.Ptr()), &errBuf[0], C.int(len(errBuf)))
	if rc != 0 {
		if msg := C.GoString(&errBuf[0]); msg != "" {
			return fmt.Errorf("face: decoding: %s", msg)
		}
		return errors.New("face: image could not be decoded (truncated or corrupt)")
	}
	return nil
}
