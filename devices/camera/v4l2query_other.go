//go:build !linux

package camera

import "errors"

func v4l2Node(source string) (string, bool) { return "", false }

func v4l2Ranges(node string) (map[Control]ControlInfo, error) {
	return nil, errors.New("V4L2 control ranges are only read on Linux")
}
