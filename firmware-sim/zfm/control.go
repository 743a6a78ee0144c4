package zfm

import (
	"bufio"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openenroll/stationd/firmware-sim/synthfinger"
)

// ControlHelp describes the control commands, one per line.
const ControlHelp = `place [SOURCE]    put a finger on the platen; SOURCE is a PNG file, builtin[:SEED] or synth:ID:FINGER (default ` + DefaultFinger + `)
lift              take the finger off
fault KIND [N]    inject a fault into the next N answers; KIND: checksum, checksum-data, drop, drop-data, stall, garbage, garbage-after, code:0xNN, hangup
clear             disarm pending faults
hangup            unplug the module (the port disappears)
return            plug it back in (same path)
sleep DURATION    pause a script ("500ms")
status            show the module's state
help              this text`

// DefaultFinger is what "place" without a source puts on the platen: the
// right index finger (position 2) of synthetic identity 1.
const DefaultFinger = "synth:1:2"

// SynthFinger renders a good impression of a synthetic finger (see
// firmware-sim/synthfinger) at the sensor's size. id is the identity: a
// number, or any text (hashed).
func SynthFinger(id string, finger, w, h int) (*image.Gray, error) {
	ident, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		ident = 14695981039346656037 // FNV-1a offset basis
		for _, c := range []byte(id) {
			ident = (ident ^ uint64(c)) * 1099511628211
		}
	}
	imp := synthfinger.GoodImpression()
	imp.Width, imp.Height = w, h
	img, _, err := synthfinger.Print(ident, finger, imp)
	return img, err
}

// LoadSource returns the image a "place" argument names.
func LoadSource(src string, w, h int) (image.Image, error) {
	switch {
	case src == "builtin" || strings.HasPrefix(src, "builtin:"):
		seed := uint64(1)
		if _, arg, ok := strings.Cut(src, ":"); ok {
			v, err := strconv.ParseUint(arg, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("place %q: builtin takes a numeric seed", src)
			}
			seed = v
		}
		return BuiltinFinger(w, h, seed), nil
	case strings.HasPrefix(src, "synth:"):
		parts := strings.Split(src, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("place %q: use synth:ID:FINGER (finger 1..10)", src)
		}
		finger, err := strconv.Atoi(parts[2])
		if err != nil || finger < 1 || finger > 10 {
			return nil, fmt.Errorf("place %q: finger must be 1..10", src)
		}
		return SynthFinger(parts[1], finger, w, h)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("place: %w", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("place %s: not a PNG image: %w", src, err)
	}
	return img, nil
}

// BuiltinFinger draws a simple loop-like ridge pattern (about 9 px ridge
// period, i.e. ≈0.46 mm at 500 ppi) inside an elliptical contact area. It
// is a stand-in for real or synthetic fingerprints, not a realistic one.
func BuiltinFinger(w, h int, seed uint64) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	r := func(k uint64) float64 { // deterministic 0..1 from the seed
		x := (seed + k) * 0x9E3779B97F4A7C15
		x ^= x >> 31
		x *= 0xBF58476D1CE4E5B9
		x ^= x >> 29
		return float64(x%10000) / 10000
	}
	cx, cy := float64(w)*(0.4+0.2*r(1)), float64(h)*(0.35+0.2*r(2))
	period := 8.5 + 1.5*r(3)
	twist := 0.4 + 0.6*r(4)
	ax, ay := float64(w)*0.42, float64(h)*0.45
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			ex, ey := (float64(x)-float64(w)/2)/ax, (float64(y)-float64(h)*0.55)/ay
			if ex*ex+ey*ey > 1 {
				img.Pix[y*img.Stride+x] = 0xFF
				continue
			}
			dx, dy := float64(x)-cx, float64(y)-cy
			d := math.Hypot(dx, dy) + twist*8*math.Sin(math.Atan2(dy, dx))
			v := 0.5 + 0.5*math.Cos(2*math.Pi*d/period)
			img.Pix[y*img.Stride+x] = uint8(40 + 200*v)
		}
	}
	return img
}

// Exec runs one control command and returns its answer.
func (s *Sim) Exec(ctx context.Context, line string) (string, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return "", nil
	}
	arg := func(i int) string {
		if i < len(fields) {
			return fields[i]
		}
		return ""
	}
	switch fields[0] {
	case "place":
		src := arg(1)
		if src == "" {
			src = DefaultFinger
		}
		img, err := LoadSource(src, s.cfg.Width, s.cfg.Height)
		if err != nil {
			return "", err
		}
		s.Place(img)
		return "finger placed", nil
	case "lift":
		s.Lift()
		return "finger lifted", nil
	case "fault":
		f, err := ParseFault(arg(1))
		if err != nil {
			return "", err
		}
		n := 1
		if a := arg(2); a != "" {
			if n, err = strconv.Atoi(a); err != nil || n < 1 {
				return "", fmt.Errorf("fault: count %q must be a positive number", a)
			}
		}
		s.Inject(f, n)
		return fmt.Sprintf("fault %s armed for %d answer(s)", arg(1), n), nil
	case "clear":
		s.ClearFaults()
		return "faults cleared", nil
	case "hangup":
		return "port hung up", s.Hangup()
	case "return":
		if err := s.Return(); err != nil {
			return "", err
		}
		return "port: " + s.Path(), nil
	case "sleep":
		d, err := time.ParseDuration(arg(1))
		if err != nil {
			return "", fmt.Errorf("sleep: %q is not a duration", arg(1))
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-t.C:
		}
		return "", nil
	case "status":
		return s.String(), nil
	case "help":
		return ControlHelp, nil
	}
	return "", fmt.Errorf("unknown command %q (try help)", fields[0])
}

// RunScript runs commands separated by ';' or newlines, stopping at the
// first error.
func (s *Sim) RunScript(ctx context.Context, script string) error {
	for _, line := range strings.FieldsFunc(script, func(r rune) bool { return r == ';' || r == '\n' }) {
		if _, err := s.Exec(ctx, line); err != nil {
			return fmt.Errorf("script %q: %w", strings.TrimSpace(line), err)
		}
	}
	return nil
}

// ServeControl reads command lines from r and answers each on w ("ok ..."
// or "error: ..."), until r ends or ctx is cancelled.
func (s *Sim) ServeControl(ctx context.Context, r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		out, err := s.Exec(ctx, sc.Text())
		switch {
		case err != nil:
			fmt.Fprintf(w, "error: %v\n", err)
		case out != "":
			fmt.Fprintf(w, "ok %s\n", out)
		default:
			fmt.Fprintln(w, "ok")
		}
	}
	return sc.Err()
}

// ListenControl serves the control commands on a unix socket at path until
// ctx is cancelled. It returns once the socket listens; wait blocks until
// the listener and its connections have stopped and the socket is removed.
func (s *Sim) ListenControl(ctx context.Context, path string) (wait func(), err error) {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("zfm sim: control socket: %w", err)
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	go func() {
		defer close(done)
		defer os.Remove(path)
		defer stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				unhook := context.AfterFunc(ctx, func() { c.Close() })
				defer unhook()
				s.ServeControl(ctx, c, c)
			}()
		}
	}()
	return func() { <-done }, nil
}
