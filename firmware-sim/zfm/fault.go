package zfm

import (
	"fmt"
	"strconv"
	"strings"
)

// FaultKind is a line or module fault the simulator can inject into its
// next answer.
type FaultKind string

// Fault kinds.
const (
	// FaultChecksum corrupts the checksum of the answer's first frame.
	FaultChecksum FaultKind = "checksum"
	// FaultChecksumData corrupts the checksum of a data packet in the
	// middle of an image upload (or the first frame of other answers).
	FaultChecksumData FaultKind = "checksum-data"
	// FaultDrop loses three bytes from the middle of the first frame.
	FaultDrop FaultKind = "drop"
	// FaultDropData loses three bytes from a data packet in the middle of
	// an image upload.
	FaultDropData FaultKind = "drop-data"
	// FaultStall leaves the command unanswered.
	FaultStall FaultKind = "stall"
	// FaultGarbage sends line noise (with false header starts) before the
	// answer.
	FaultGarbage FaultKind = "garbage"
	// FaultGarbageAfter sends line noise after the answer.
	FaultGarbageAfter FaultKind = "garbage-after"
	// FaultCode answers with the confirmation code Code instead.
	FaultCode FaultKind = "code"
	// FaultHangup hangs the port up instead of answering.
	FaultHangup FaultKind = "hangup"
)

// Fault is one armed fault; each applies to one command.
type Fault struct {
	Kind FaultKind
	Code byte // for FaultCode
}

// FaultKinds lists every kind, for help texts.
var FaultKinds = []FaultKind{FaultChecksum, FaultChecksumData, FaultDrop, FaultDropData, FaultStall, FaultGarbage, FaultGarbageAfter, FaultCode, FaultHangup}

// ParseFault reads "checksum", "code:0x06", "code:6" and so on.
func ParseFault(s string) (Fault, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	f := Fault{Kind: FaultKind(kind)}
	switch f.Kind {
	case FaultCode:
		v, err := strconv.ParseUint(arg, 0, 8)
		if err != nil {
			return f, fmt.Errorf("fault %q: code needs a confirmation code byte, like code:0x06", s)
		}
		f.Code = byte(v)
		return f, nil
	case FaultChecksum, FaultChecksumData, FaultDrop, FaultDropData, FaultStall, FaultGarbage, FaultGarbageAfter, FaultHangup:
		if arg != "" {
			return f, fmt.Errorf("fault %q: %s takes no argument", s, kind)
		}
		return f, nil
	}
	return f, fmt.Errorf("unknown fault %q (known: %v)", s, FaultKinds)
}

// Inject arms faults for the next n commands (n < 1 counts as 1).
func (s *Sim) Inject(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range max(n, 1) {
		s.faults = append(s.faults, f)
	}
}

// ClearFaults disarms every pending fault.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// garbage is line noise that starts like a header without being one: a
// lone EF, EF followed by another byte, and an EF right before the real
// frame's EF 01.
var garbage = []byte{0x00, 0x55, 0xEF, 0x00, 0xFF, 0xEF, 0x02, 0x13, 0x37, 0xEF, 0xEF}

// applyFault changes the frames about to be sent. frames are fresh
// encodings and may be modified.
func applyFault(f Fault, frames [][]byte) [][]byte {
	if len(frames) == 0 {
		return frames
	}
	target := 0
	if (f.Kind == FaultChecksumData || f.Kind == FaultDropData) && len(frames) > 2 {
		target = len(frames) / 2
	}
	switch f.Kind {
	case FaultChecksum, FaultChecksumData:
		fr := frames[target]
		fr[len(fr)-1] ^= 0x5A
	case FaultDrop, FaultDropData:
		fr := frames[target]
		mid := len(fr) / 2
		frames[target] = append(fr[:mid:mid], fr[min(mid+3, len(fr)):]...)
	case FaultGarbage:
		frames = append([][]byte{append([]byte(nil), garbage...)}, frames...)
	case FaultGarbageAfter:
		frames = append(frames, append([]byte(nil), garbage...))
	}
	return frames
}
