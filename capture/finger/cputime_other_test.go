//go:build !unix

package finger

import "time"

func processCPU() time.Duration { return 0 }
