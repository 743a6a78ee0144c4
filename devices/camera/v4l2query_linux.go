package camera

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// OpenCV does not tell a control's range; the kernel does, through
// VIDIOC_QUERYCTRL on the device node (V4L2 API, "Ioctl VIDIOC_QUERYCTRL").
// The node can be opened a second time alongside OpenCV's capture: control
// queries do not touch streaming.

// v4l2QueryCtrl is struct v4l2_queryctrl of linux/videodev2.h (68 bytes).
type v4l2QueryCtrl struct {
	ID       uint32
	Type     uint32
	Name     [32]byte
	Minimum  int32
	Maximum  int32
	Step     int32
	Default  int32
	Flags    uint32
	Reserved [2]uint32
}

// From linux/videodev2.h and linux/v4l2-controls.h.
const (
	vidiocQueryCtrl      = 0xc0445624 // _IOWR('V', 36, struct v4l2_queryctrl)
	v4l2CtrlFlagDisabled = 0x0001
)

// v4l2IDs are the V4L2 control ids behind OpenCV's properties.
var v4l2IDs = map[Control]uint32{
	CtlExposure:         0x009a0902, // V4L2_CID_EXPOSURE_ABSOLUTE, 100 µs units
	CtlAutoExposure:     0x009a0901, // V4L2_CID_EXPOSURE_AUTO
	CtlGain:             0x00980913, // V4L2_CID_GAIN
	CtlWhiteBalance:     0x0098091a, // V4L2_CID_WHITE_BALANCE_TEMPERATURE, kelvin
	CtlAutoWhiteBalance: 0x0098090c, // V4L2_CID_AUTO_WHITE_BALANCE
	CtlFocus:            0x009a090a, // V4L2_CID_FOCUS_ABSOLUTE
	CtlAutoFocus:        0x009a090c, // V4L2_CID_FOCUS_AUTO
}

// v4l2Units of the controls whose unit the V4L2 API fixes.
var v4l2Units = map[Control]string{CtlExposure: "100us", CtlWhiteBalance: "K"}

// v4l2Node is the device node of a V4L2 source: "/dev/videoN" as given,
// or an index N as /dev/videoN.
func v4l2Node(source string) (string, bool) {
	if strings.HasPrefix(source, "/dev/") {
		return source, true
	}
	if n, err := strconv.Atoi(source); err == nil && n >= 0 {
		return fmt.Sprintf("/dev/video%d", n), true
	}
	return "", false
}

// v4l2Ranges asks the device node for the ranges of the value controls
// (not the automatic switches, which the driver presents as 0/1).
func v4l2Ranges(node string) (map[Control]ControlInfo, error) {
	f, err := os.OpenFile(node, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[Control]ControlInfo{}
	var last error
	for _, c := range []Control{CtlExposure, CtlGain, CtlWhiteBalance, CtlFocus} {
		q := v4l2QueryCtrl{ID: v4l2IDs[c]}
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), vidiocQueryCtrl, uintptr(unsafe.Pointer(&q))); e != 0 {
			// EINVAL: the device has no such control.
			if !errors.Is(e, syscall.EINVAL) {
				last = fmt.Errorf("VIDIOC_QUERYCTRL %s: %w", c, e)
			}
			continue
		}
		if q.Flags&v4l2CtrlFlagDisabled != 0 || q.Maximum < q.Minimum {
			continue
		}
		out[c] = ControlInfo{Name: c, Ranged: true, Min: float64(q.Minimum), Max: float64(q.Maximum),
			Step: float64(max(q.Step, 1)), Unit: v4l2Units[c]}
	}
	if len(out) == 0 && last != nil {
		return nil, last
	}
	return out, nil
}
