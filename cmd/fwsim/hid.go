package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/openenroll/stationd/firmware-sim/hidsim"
)

func init() {
	register(simulator{
		name:    "hid",
		summary: "a slap scanner, foot pedal and status light on the virtual HID transport (unix sockets)",
		run:     runHID,
	})
}

// hidScene is what the simulated applicant does when the scanner is armed;
// control commands change it.
type hidScene struct {
	mu        sync.Mutex
	identity  uint64
	wrongHand bool
	noFingers bool
	missing   uint8
	smudges   int
	maxRot    float64
	synth     bool
	rng       *rand.Rand
}

func (s *hidScene) render(a hidsim.Arm) (*image.Gray, error) {
	s.mu.Lock()
	spec := hidsim.SlapSpec{
		Identity: s.identity, Kind: int(a.Kind), WrongHand: s.wrongHand,
		Missing: (^a.Expected | s.missing) & 0x0F, Smudges: s.smudges,
		RotationDeg: (2*s.rng.Float64() - 1) * s.maxRot, Seed: s.rng.Uint64(),
	}
	if !s.synth {
		spec.Source = hidsim.QuickSource()
	}
	none := s.noFingers
	s.mu.Unlock()
	if none {
		return nil, hidsim.ErrNoFingers
	}
	img, _, err := hidsim.RenderSlap(spec)
	return img, err
}

const hidControlHelp = `  press | release | tap      the foot pedal
  unplug NAME | plug NAME    NAME is slap, pedal or light
  identity N                 whose fingers are placed
  wronghand on|off           put the other hand down
  missing BITS               fingers absent (bit 0 index .. bit 3 little; thumbs: bit 0 right, bit 1 left)
  nofingers on|off           nobody places fingers (the scanner times out)
  smudges N                  latent smudges on the platen
  faults DROP REORDER CORRUPT   lossy link (probabilities per image block)
  light                      print what the status light shows`

func runHID(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: fwsim hid [flags]\n\nPlugs a simulated slap scanner, foot pedal and status light into a socket\ndirectory (the virtual HID transport of docs/hid-slap.md) and prints each\nsocket path and the directory (the drivers' socket_dir). Control commands,\none per line, on stdin:")
		fmt.Fprintln(stderr, hidControlHelp)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "", "socket directory (default: a new temporary directory)")
	identity := fs.Uint64("identity", 1, "synthetic identity whose fingers are placed")
	maxRot := fs.Float64("rotation", 20, "largest hand rotation in degrees (drawn at random per slap)")
	synth := fs.Bool("synth", true, "render fingertips with synthfinger (false: fast procedural stand-ins)")
	stdin := fs.Bool("stdin", true, "read control commands from stdin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *maxRot < 0 || *maxRot > 45 {
		return fmt.Errorf("--rotation %v: want 0..45 degrees", *maxRot)
	}
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "fwsim-hid-"); err != nil {
			return err
		}
		defer os.RemoveAll(d)
	}
	hub, err := hidsim.NewHub(d)
	if err != nil {
		return err
	}
	defer hub.Close()
	scene := &hidScene{identity: *identity, maxRot: *maxRot, synth: *synth, rng: rand.New(rand.NewPCG(*identity, 1))}
	slap := &hidsim.Slap{Serial: "SIM-SLAP-1", Source: scene.render}
	pedal := &hidsim.Pedal{Serial: "SIM-PEDAL-1"}
	light := &hidsim.Light{Serial: "SIM-LIGHT-1"}
	devs := map[string]hidsim.Device{"slap": slap, "pedal": pedal, "light": light}
	for _, n := range []string{"slap", "pedal", "light"} {
		if err := hub.Plug(n, devs[n]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", n, hub.SocketPath(n))
	}
	fmt.Fprintf(stdout, "socket_dir: %s\n", hub.Dir())
	if *stdin {
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				if err := hidControl(sc.Text(), hub, devs, scene, slap, pedal, light, stdout); err != nil {
					fmt.Fprintln(stdout, "error:", err)
				}
			}
		}()
	}
	<-ctx.Done()
	return nil
}

func hidControl(line string, hub *hidsim.Hub, devs map[string]hidsim.Device, sc *hidScene, slap *hidsim.Slap, pedal *hidsim.Pedal, light *hidsim.Light, out io.Writer) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	onOff := func() (bool, error) {
		switch arg(1) {
		case "on":
			return true, nil
		case "off":
			return false, nil
		}
		return false, fmt.Errorf("%s: want on or off", f[0])
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	switch f[0] {
	case "press":
		pedal.Press()
	case "release":
		pedal.Release()
	case "tap":
		pedal.Press()
		pedal.Release()
	case "unplug":
		return hub.Unplug(arg(1))
	case "plug":
		d, ok := devs[arg(1)]
		if !ok {
			return fmt.Errorf("plug %q: want slap, pedal or light", arg(1))
		}
		return hub.Plug(arg(1), d)
	case "identity":
		v, err := strconv.ParseUint(arg(1), 10, 64)
		if err != nil {
			return fmt.Errorf("identity: %w", err)
		}
		sc.identity = v
	case "wronghand":
		v, err := onOff()
		sc.wrongHand = v
		return err
	case "nofingers":
		v, err := onOff()
		sc.noFingers = v
		return err
	case "missing":
		v, err := strconv.ParseUint(arg(1), 0, 8)
		if err != nil || v > 0x0F {
			return fmt.Errorf("missing %q: want a bit set 0..15", arg(1))
		}
		sc.missing = uint8(v)
	case "smudges":
		v, err := strconv.Atoi(arg(1))
		if err != nil || v < 0 || v > 20 {
			return fmt.Errorf("smudges %q: want 0..20", arg(1))
		}
		sc.smudges = v
	case "faults":
		var p [3]float64
		for i := range p {
			v, err := strconv.ParseFloat(arg(i+1), 64)
			if err != nil || v < 0 || v > 1 {
				return fmt.Errorf("faults: want three probabilities 0..1 (drop reorder corrupt)")
			}
			p[i] = v
		}
		slap.SetFaults(hidsim.Faults{Drop: p[0], Reorder: p[1], Corrupt: p[2], Seed: 1})
	case "light":
		st := light.State()
		fmt.Fprintf(out, "light: pattern %d rgb %v period %d00ms\n", st.Pattern, st.RGB, st.Period)
	default:
		return fmt.Errorf("unknown command %q; commands:\n%s", f[0], hidControlHelp)
	}
	return nil
}
