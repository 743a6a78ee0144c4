package camsim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The simulated camera has manual image controls, as a UVC webcam has
// (exposure_time_absolute, gain, white_balance_temperature,
// focus_absolute). They act on the rendering physically:
//
//   - exposure and gain scale the light reaching the picture (brightness
//     = scene light × exposure/100 × 10^(gain/20)); gain also amplifies
//     sensor noise, so a dark scene made bright by gain is grainy;
//   - white balance is the colour temperature the camera corrects for: set
//     away from the scene's light it casts the picture warm (set too high)
//     or cold (set too low);
//   - focus is the lens position: away from the subject's position the
//     picture blurs, more the further off, beyond a small depth of field.
//
// At their defaults (Config.SceneKelvin and Config.FocusAt for white
// balance and focus) the controls change nothing: the picture is the
// scripted scene exactly.
//
// HTTP: GET ControlsPath lists them; POST ControlsPath with a JSON object
// {"exposure": 250, "focus": 90} sets some (each clamped to its range and
// rounded to its step, as a UVC camera does) and answers the list with
// the values taken. See docs/camera-sim.md.

// Control names.
const (
	CtlExposure     = "exposure"
	CtlGain         = "gain"
	CtlWhiteBalance = "white_balance"
	CtlFocus        = "focus"
)

// ControlsProtocol names the control endpoint's protocol and version, so
// that a client can tell the simulator from another camera's web page.
const ControlsProtocol = "camsim-controls/1"

// ControlsPath is where the controls are read and set.
const ControlsPath = "/controls"

// ControlRange is a control's limits.
type ControlRange struct {
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Step    float64 `json:"step"`
	Default float64 `json:"default"`
	Unit    string  `json:"unit"`
}

// Controls are the camera's control values.
type Controls struct {
	// Exposure time in units of 100 µs (the UVC exposure_time_absolute
	// unit, UVC 1.5 §4.2.2.1.4); 100 is 10 ms, the nominal exposure at
	// which the scene shows as photographed.
	Exposure float64
	// Gain in dB, 0 to 24.
	Gain float64
	// WhiteBalance is the colour temperature in kelvin the camera corrects
	// for (UVC white_balance_temperature).
	WhiteBalance float64
	// Focus is the lens position, 0 to 255 (UVC focus_absolute; larger is
	// nearer).
	Focus float64
}

// ranges of the controls; white balance and focus defaults come from the
// scene (Config).
func (s *Server) ranges() map[string]ControlRange {
	return map[string]ControlRange{
		CtlExposure:     {Min: 1, Max: 2000, Step: 1, Default: nominalExposure, Unit: "100us"},
		CtlGain:         {Min: 0, Max: 24, Step: 0.5, Default: 0, Unit: "dB"},
		CtlWhiteBalance: {Min: 2800, Max: 6500, Step: 10, Default: s.cfg.SceneKelvin, Unit: "K"},
		CtlFocus:        {Min: 0, Max: 255, Step: 1, Default: s.cfg.FocusAt, Unit: "position"},
	}
}

// nominalExposure is the exposure at which the scene renders as
// photographed.
const nominalExposure = 100

// DefaultControls are the neutral settings of a scene lit at kelvin with
// the subject in focus at lens position focusAt.
func DefaultControls(kelvin, focusAt float64) Controls {
	return Controls{Exposure: nominalExposure, Gain: 0, WhiteBalance: kelvin, Focus: focusAt}
}

// MissetControls are a badly set camera for calibration tests and demos:
// exposure a quarter of nominal with 6 dB gain (dark and grainy), white
// balance for tungsten light under daylight lamps (a blue cast), and the
// lens focused far behind the seat.
func MissetControls(focusAt float64) Controls {
	f := focusAt - 80
	if f < 0 {
		f = focusAt + 80
	}
	return Controls{Exposure: 25, Gain: 6, WhiteBalance: 3000, Focus: f}
}

func (c Controls) get(name string) float64 {
	switch name {
	case CtlExposure:
		return c.Exposure
	case CtlGain:
		return c.Gain
	case CtlWhiteBalance:
		return c.WhiteBalance
	case CtlFocus:
		return c.Focus
	}
	return math.NaN()
}

func (c *Controls) set(name string, v float64) {
	switch name {
	case CtlExposure:
		c.Exposure = v
	case CtlGain:
		c.Gain = v
	case CtlWhiteBalance:
		c.WhiteBalance = v
	case CtlFocus:
		c.Focus = v
	}
}

// ParseControls reads "name=value,name=value" (as the command line takes
// them) over base; "misset" alone gives MissetControls.
func ParseControls(s string, base Controls, focusAt float64) (Controls, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return base, nil
	}
	if s == "misset" {
		return MissetControls(focusAt), nil
	}
	c := base
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return c, fmt.Errorf("camsim: control %q: want name=value", kv)
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return c, fmt.Errorf("camsim: control %s: bad number %q", k, v)
		}
		if math.IsNaN(c.get(k)) {
			return c, fmt.Errorf("camsim: unknown control %q (exposure, gain, white_balance, focus)", k)
		}
		c.set(k, x)
	}
	return c, nil
}

// controlsReply is the JSON both GET and POST answer.
type controlsReply struct {
	Protocol string                  `json:"protocol"`
	Controls map[string]controlReply `json:"controls"`
}

type controlReply struct {
	Value float64 `json:"value"`
	ControlRange
}

// Controls returns the current control values.
func (s *Server) Controls() Controls {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctl
}

// SetControl sets one control, clamped to its range and rounded to its
// step, and returns the value taken.
func (s *Server) SetControl(name string, v float64) (float64, error) {
	r, ok := s.ranges()[name]
	if !ok {
		return 0, fmt.Errorf("unknown control %q (exposure, gain, white_balance, focus)", name)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("control %s: %v is not a number", name, v)
	}
	v = math.Max(r.Min, math.Min(r.Max, v))
	v = r.Min + math.Round((v-r.Min)/r.Step)*r.Step
	s.mu.Lock()
	s.ctl.set(name, v)
	s.mu.Unlock()
	return v, nil
}

func (s *Server) controlsReply() controlsReply {
	c := s.Controls()
	out := controlsReply{Protocol: ControlsProtocol, Controls: map[string]controlReply{}}
	for name, r := range s.ranges() {
		out.Controls[name] = controlReply{Value: c.get(name), ControlRange: r}
	}
	return out
}

// maxControlsBody bounds a POST: four numbers need a few dozen bytes.
const maxControlsBody = 4 << 10

// controls serves GET and POST ControlsPath.
func (s *Server) controls(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxControlsBody+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		want, err := ParseControlsRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		names := make([]string, 0, len(want))
		for k := range want {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			if _, err := s.SetControl(k, want[k]); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		s.log.Info("camera controls set", "controls", want)
	default:
		http.Error(w, "GET the controls, or POST a JSON object of name: value", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.controlsReply())
}

// ParseControlsRequest reads a POSTed JSON object of control names and
// numbers. Unknown names are refused here, before anything is set.
func ParseControlsRequest(body []byte) (map[string]float64, error) {
	if len(body) > maxControlsBody {
		return nil, fmt.Errorf("controls request of more than %d bytes", maxControlsBody)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	var raw map[string]json.Number
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("controls request: want a JSON object of name: number: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("controls request: more than one JSON value")
	}
	out := make(map[string]float64, len(raw))
	for k, n := range raw {
		switch k {
		case CtlExposure, CtlGain, CtlWhiteBalance, CtlFocus:
		default:
			return nil, fmt.Errorf("controls request: unknown control %q (exposure, gain, white_balance, focus)", k)
		}
		v, err := n.Float64()
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("controls request: %s: bad number %q", k, n)
		}
		out[k] = v
	}
	return out, nil
}
