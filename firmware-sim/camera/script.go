// Package camsim simulates a USB/IP camera for the station: it plays a
// portrait photograph as a person who sits down, turns, tilts the head,
// blinks and leaves, under changing light and sensor noise, at a set frame
// rate, and serves the frames as an MJPEG stream over HTTP
// (multipart/x-mixed-replace, the format of IP cameras and of
// mjpg-streamer) on 127.0.0.1. The station's camera driver opens the
// stream URL through OpenCV's FFmpeg backend exactly as it would open a
// real network camera; nothing of the driver is shared with it.
//
// What happens is scripted: a scenario file (see ParseScript) or commands
// posted to the control endpoint while it runs.
//
// The camera has manual controls — exposure, gain, white balance, focus —
// served on a small JSON endpoint (ControlsPath) that a driver can use as
// it would use V4L2's controls; they change the picture physically (see
// Controls), and a camera can start mis-set (MissetControls) for
// calibration to correct. Frames can carry their capture time in a
// stamp strip (DrawStamp) for measuring latency to a screen. The
// protocols are described in docs/camera-sim.md.
package camsim

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Step is one scripted action. Ramped actions move their target value
// linearly over Dur; instant ones take effect at the step's start.
type Step struct {
	Verb string
	Arg  float64
	Dur  time.Duration
	Line int
}

// Verbs a script may use, with their argument.
//
//	empty DUR          nobody in front of the camera
//	sit DUR            the person comes in from below and sits down
//	hold DUR           nothing changes
//	tilt DEG DUR       tilt (roll) the head to DEG degrees, counter-clockwise positive
//	turn DEG DUR       turn (yaw) the head to DEG degrees; a flat photograph can only
//	                   approximate this (it is squeezed by cos(DEG) and shifted sideways)
//	blink DUR          eyes closed for DUR
//	light GAIN DUR     overall brightness to GAIN (1 = as photographed)
//	sidelight K DUR    light ramp across the frame: left x(1+K), right x(1-K)
//	noise SIGMA        sensor noise, grey levels (instant)
//	leave DUR          the person gets up and leaves to the side
//	unplug             the stream ends here (the camera is pulled out)
var verbs = map[string]struct{ arg, dur bool }{
	"empty": {false, true}, "sit": {false, true}, "hold": {false, true},
	"tilt": {true, true}, "turn": {true, true}, "blink": {false, true},
	"light": {true, true}, "sidelight": {true, true}, "noise": {true, false},
	"leave": {false, true}, "unplug": {false, false},
}

// ParseScript reads a scenario: one step per line, '#' starts a comment.
// Durations are Go durations ("1.5s", "200ms").
func ParseScript(r io.Reader) ([]Step, error) {
	var steps []Step
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		v, ok := verbs[f[0]]
		if !ok {
			return nil, fmt.Errorf("scenario line %d: unknown step %q", n, f[0])
		}
		want := 1
		if v.arg {
			want++
		}
		if v.dur {
			want++
		}
		if len(f) != want {
			return nil, fmt.Errorf("scenario line %d: %s takes %d argument(s), got %d", n, f[0], want-1, len(f)-1)
		}
		s := Step{Verb: f[0], Line: n}
		i := 1
		if v.arg {
			x, err := strconv.ParseFloat(f[i], 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1000 {
				return nil, fmt.Errorf("scenario line %d: %s: bad number %q", n, f[0], f[i])
			}
			s.Arg = x
			i++
		}
		if v.dur {
			d, err := time.ParseDuration(f[i])
			if err != nil || d < 0 || d > time.Hour {
				return nil, fmt.Errorf("scenario line %d: %s: bad duration %q (0 to 1h, like 1.5s)", n, f[0], f[i])
			}
			s.Dur = d
		}
		steps = append(steps, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scenario line %d: %w", n+1, err)
	}
	return steps, nil
}

// State is the scene at one moment.
type State struct {
	Present  bool    // a person is in view (maybe partly)
	Y        float64 // vertical offset of the person as a fraction of frame height (0 seated, 1 below the frame)
	X        float64 // horizontal offset as a fraction of frame width (0 centred)
	Tilt     float64 // head roll, degrees
	Turn     float64 // head yaw, degrees
	Closed   bool    // eyes closed
	Gain     float64 // overall light
	Side     float64 // light ramp
	Noise    float64 // noise sigma, grey levels
	Unplug   bool    // the stream ends
	Moving   bool    // the person is moving this frame
	StepLine int     // script line in effect
}

// Compliant reports whether a good ID photo could be taken of this scene:
// someone is seated still, looking straight, eyes open, evenly lit at the
// photographed brightness. It is the simulator's ground truth for tests.
func (s State) Compliant() bool {
	return s.Present && !s.Moving && s.Y == 0 && s.X == 0 && math.Abs(s.Tilt) < 3 &&
		math.Abs(s.Turn) < 3 && !s.Closed && s.Gain > 0.8 && s.Gain < 1.25 &&
		math.Abs(s.Side) < 0.1 && s.Noise < 8
}

// Timeline turns a script into the scene at each frame.
type Timeline struct {
	steps []Step
	fps   float64
	// starts[i] is the frame at which steps[i] begins.
	starts []int
	total  int
}

// NewTimeline lays a script out at fps frames per second.
func NewTimeline(steps []Step, fps float64) *Timeline {
	t := &Timeline{steps: steps, fps: fps}
	f := 0
	for _, s := range steps {
		t.starts = append(t.starts, f)
		f += int(math.Round(s.Dur.Seconds() * fps))
	}
	t.total = f
	return t
}

// Frames is the number of frames the script lasts (the frame at which an
// unplug step or the end is reached).
func (t *Timeline) Frames() int {
	for i, s := range t.steps {
		if s.Verb == "unplug" {
			return t.starts[i]
		}
	}
	return t.total
}

// At returns the scene at frame n.
func (t *Timeline) At(n int) State {
	st := State{Gain: 1, Y: 1}
	for i, s := range t.steps {
		start := t.starts[i]
		if start > n {
			break
		}
		frames := int(math.Round(s.Dur.Seconds() * t.fps))
		p := 1.0 // progress through a ramp
		active := n < start+frames
		if active && frames > 0 {
			p = float64(n-start+1) / float64(frames)
		}
		ramp := func(from, to float64) float64 { return from + (to-from)*p }
		st.StepLine = s.Line
		switch s.Verb {
		case "empty":
			st.Present, st.Y, st.X = false, 1, 0
		case "sit":
			// Ease out: fast at first, settling into the seat.
			st.Present, st.X = true, 0
			st.Y = (1 - p) * (1 - p)
			st.Moving = active
		case "leave":
			st.X = ramp(0, 1.2)
			st.Moving = active
			if !active {
				st.Present = false
			}
		case "tilt":
			st.Tilt = ramp(st.Tilt, s.Arg)
			st.Moving = active
		case "turn":
			st.Turn = ramp(st.Turn, s.Arg)
			st.Moving = active
		case "blink":
			st.Closed = active
		case "light":
			st.Gain = ramp(st.Gain, s.Arg)
		case "sidelight":
			st.Side = ramp(st.Side, s.Arg)
		case "noise":
			st.Noise = s.Arg
		case "unplug":
			st.Unplug = true
		}
		if s.Verb != "sit" && s.Verb != "leave" && s.Verb != "tilt" && s.Verb != "turn" {
			st.Moving = false
		}
	}
	return st
}
