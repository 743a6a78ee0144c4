package camsim

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // portraits
	_ "image/png"  // portraits
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Config describes a simulated camera.
type Config struct {
	// Addr to listen on; "" is 127.0.0.1 on a free port.
	Addr          string
	Width, Height int     // frame size; 0: 640x480
	FPS           float64 // frame rate; 0: 25
	Person        Person
	Script        []Step
	// Loop restarts the script when it ends; otherwise the stream ends
	// (EOF), as when the camera is switched off.
	Loop bool
	// JPEGQuality of the frames; 0: 85.
	JPEGQuality int
	// SceneKelvin is the colour temperature of the booth's light (0:
	// 5000 K) and FocusAt the lens position at which the seated person is
	// sharp (0: 120); see Controls.
	SceneKelvin, FocusAt float64
	// Controls are the camera's settings at start; nil: neutral
	// (DefaultControls), MissetControls for a camera that needs calibrating.
	Controls *Controls
	// Stamp draws each frame's capture time into its top rows (see
	// DrawStamp), for measuring latency downstream.
	Stamp  bool
	Logger *slog.Logger
}

// DefaultEyes are the eye centres of testdata/faces/grace_hopper_512x512.jpg.
var DefaultEyes = [2]image.Point{{221, 177}, {304, 175}}

// LoadPerson reads a portrait file.
func LoadPerson(path string, eyes [2]image.Point) (Person, error) {
	f, err := os.Open(path)
	if err != nil {
		return Person{}, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return Person{}, fmt.Errorf("camsim: portrait %s: %w", path, err)
	}
	for _, e := range eyes {
		if !e.In(img.Bounds()) {
			return Person{}, fmt.Errorf("camsim: eye position %v outside the portrait %v", e, img.Bounds())
		}
	}
	return Person{Img: img, Eyes: eyes}, nil
}

// StreamPath is where the MJPEG stream is served; ControlPath takes
// commands.
const (
	StreamPath  = "/stream.mjpg"
	ControlPath = "/control"
	boundary    = "camsimframe"
)

// Server serves a simulated camera. Each stream connection plays the
// script from its first frame, so frame n of a connection is Timeline.At(n).
type Server struct {
	cfg  Config
	ln   net.Listener
	http *http.Server
	log  *slog.Logger

	mu      sync.Mutex
	ctl     Controls
	script  []Step
	plugged bool
	pulled  chan struct{} // closed on unplug: live streams end
	streams int
	served  uint64
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Width == 0 && cfg.Height == 0 {
		cfg.Width, cfg.Height = 640, 480
	}
	if cfg.FPS <= 0 {
		cfg.FPS = 25
	}
	if cfg.FPS > 1000 {
		return nil, fmt.Errorf("camsim: %v fps is beyond any camera", cfg.FPS)
	}
	if cfg.JPEGQuality == 0 {
		cfg.JPEGQuality = 85
	}
	if cfg.Person.Img == nil {
		return nil, errors.New("camsim: no portrait to play")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.SceneKelvin == 0 {
		cfg.SceneKelvin = DefaultSceneKelvin
	}
	if cfg.FocusAt == 0 {
		cfg.FocusAt = DefaultFocusAt
	}
	if cfg.SceneKelvin < 1000 || cfg.SceneKelvin > 20000 || cfg.FocusAt < 0 || cfg.FocusAt > 255 {
		return nil, fmt.Errorf("camsim: scene light %v K (1000..20000) or focus position %v (0..255) out of range", cfg.SceneKelvin, cfg.FocusAt)
	}
	// A renderer now, to report bad sizes before listening.
	if _, err := NewRenderer(cfg.Width, cfg.Height, cfg.Person); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("camsim: listen: %w", err)
	}
	s := &Server{cfg: cfg, ln: ln, script: cfg.Script, plugged: true, pulled: make(chan struct{})}
	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctl = DefaultControls(cfg.SceneKelvin, cfg.FocusAt)
	if cfg.Controls != nil {
		for _, name := range []string{CtlExposure, CtlGain, CtlWhiteBalance, CtlFocus} {
			if _, err := s.SetControl(name, cfg.Controls.get(name)); err != nil {
				ln.Close()
				return nil, fmt.Errorf("camsim: %w", err)
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc(StreamPath, s.stream)
	mux.HandleFunc(ControlPath, s.control)
	mux.HandleFunc(ControlsPath, s.controls)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.http.Serve(ln)
	return s, nil
}

// URL is the stream's address.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + StreamPath }

// ControlURL is the address of the script endpoint (unplug, plug, new
// scripts).
func (s *Server) ControlURL() string { return "http://" + s.ln.Addr().String() + ControlPath }

// ControlsURL is the address of the camera controls endpoint (exposure,
// gain, white balance, focus).
func (s *Server) ControlsURL() string { return "http://" + s.ln.Addr().String() + ControlsPath }

// Close stops serving and ends every stream.
func (s *Server) Close() error {
	s.Unplug()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

// SetScript replaces the script that new stream connections play.
func (s *Server) SetScript(steps []Step) {
	s.mu.Lock()
	s.script = steps
	s.mu.Unlock()
}

// Unplug ends the live streams and refuses new ones (HTTP 503) until Plug.
func (s *Server) Unplug() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.plugged {
		s.plugged = false
		close(s.pulled)
	}
}

// Plug makes the camera available again.
func (s *Server) Plug() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.plugged {
		s.plugged = true
		s.pulled = make(chan struct{})
	}
}

// Served returns how many frames all streams have sent.
func (s *Server) Served() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// control takes POSTed commands: "unplug", "plug", or a script (the
// scenario format) that new connections will play.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a command: unplug, plug, or a script", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch cmd := strings.TrimSpace(string(body)); cmd {
	case "unplug":
		s.Unplug()
	case "plug":
		s.Plug()
	default:
		steps, err := ParseScript(strings.NewReader(cmd))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.SetScript(steps)
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	plugged, pulled, script := s.plugged, s.pulled, s.script
	s.mu.Unlock()
	if !plugged {
		http.Error(w, "camera unplugged", http.StatusServiceUnavailable)
		return
	}
	rend, err := NewRenderer(s.cfg.Width, s.cfg.Height, s.cfg.Person)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rend.Quality = s.cfg.JPEGQuality
	rend.SceneKelvin, rend.FocusAt = s.cfg.SceneKelvin, s.cfg.FocusAt
	tl := NewTimeline(script, s.cfg.FPS)
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-cache")
	period := time.Duration(float64(time.Second) / s.cfg.FPS)
	tick := time.NewTicker(period)
	defer tick.Stop()
	s.log.Info("camera stream opened", "remote", r.RemoteAddr, "frames", tl.Frames())
	for n, seq := 0, 0; ; n, seq = n+1, seq+1 {
		if n >= tl.Frames() {
			if !s.cfg.Loop || tl.Frames() == 0 || tl.At(n).Unplug {
				s.log.Info("camera stream ended", "frames", seq)
				// A finished stream closes its multipart body properly;
				// an unplugged camera just drops the connection.
				fmt.Fprintf(w, "--%s--\r\n", boundary)
				return
			}
			n = 0
		}
		// The capture time: the moment the frame's exposure is taken.
		at := time.Now()
		var stamp *Stamp
		if s.cfg.Stamp {
			stamp = &Stamp{Time: at, Seq: uint8(seq & 63)}
		}
		jpg, err := rend.FrameWith(tl.At(n), s.Controls(), stamp)
		if err != nil {
			s.log.Error("camsim: encoding frame", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Frame-Seq: %d\r\nX-Capture-Time-Ms: %d\r\n\r\n", boundary, len(jpg), seq, at.UnixMilli()); err != nil {
			return
		}
		if _, err := w.Write(jpg); err != nil {
			return
		}
		if _, err := io.WriteString(w, "\r\n"); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		s.mu.Lock()
		s.served++
		s.mu.Unlock()
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-pulled:
			return
		}
	}
}
