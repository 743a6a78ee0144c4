// Package simrig sets up a whole simulated booth from the project's own
// binaries: the device simulators (fwsim), the reference central, keys, a
// stationd configuration, and stationd itself, each a real process talking
// over the real interfaces (a pty, websockets). `make run` (cmd/simstation)
// and the end-to-end tests use it; it stops what it started, by process id.
package simrig

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openenroll/stationd/station/packet"
	"github.com/openenroll/stationd/station/uplink"
)

// Rig is one simulated booth.
type Rig struct {
	Bin       string // directory with stationd, fwsim, central
	Dir       string // working directory: logs, keys, stores
	StationID string

	// Filled as things start.
	CentralURL  string // ws://127.0.0.1:N/uplink
	CentralHTTP string // http://127.0.0.1:N
	ZFMPort     string // the simulated scanner's port (a symlink to a pty)
	ZFMControl  string // its control socket
	CameraURL   string // the simulated camera's MJPEG stream
	HIDDir      string // the simulated HID devices' socket directory
	StationAddr string // 127.0.0.1:N of stationd's API
	Token       string // login token of stationd's API (set by WriteConfig)
	ConfigPath  string

	mu    sync.Mutex
	procs []*Proc
}

// Proc is a process the rig started.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Done chan struct{}
	Err  error
	Log  string

	stdin io.WriteCloser
	mu    sync.Mutex
	lines []string // the latest stdout lines
}

// Send writes one line to the process's standard input (the simulators'
// control commands).
func (p *Proc) Send(line string) error {
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// Lines returns the latest lines the process wrote to its standard output.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// New prepares a rig in dir using the binaries in bin.
func New(bin, dir string) (*Rig, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Rig{Bin: bin, Dir: dir, StationID: "sim-booth-01"}, nil
}

// Build compiles the rig's binaries from the module at root into bin.
func Build(ctx context.Context, root, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator), "./cmd/stationd", "./cmd/fwsim", "./cmd/central")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// Start runs a program, sending its output to DIR/NAME.log, and waits for a
// stdout line matching ready (when given), returning its submatches.
func (r *Rig) Start(ctx context.Context, name string, ready *regexp.Regexp, prog string, args ...string) (*Proc, []string, error) {
	logPath := filepath.Join(r.Dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(prog, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	// Own process group: a Ctrl-C in the terminal reaches simstation, which
	// then stops these in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Done: make(chan struct{}), Log: logPath, stdin: stdin}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			p.mu.Lock()
			if len(p.lines) >= 200 {
				p.lines = p.lines[1:]
			}
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			if !sent && ready != nil {
				if m := ready.FindStringSubmatch(line); m != nil {
					found <- m
					sent = true
				}
			}
		}
		p.Err = cmd.Wait()
		logf.Close()
		close(p.Done)
	}()
	if ready == nil {
		return p, nil, nil
	}
	select {
	case m := <-found:
		return p, m, nil
	case <-p.Done:
		return p, nil, fmt.Errorf("%s exited (%v) before it was ready; see %s", name, p.Err, logPath)
	case <-time.After(60 * time.Second):
		return p, nil, fmt.Errorf("%s not ready after 60 s; see %s", name, logPath)
	case <-ctx.Done():
		return p, nil, ctx.Err()
	}
}

// Kill ends a process at once (SIGKILL), as a power cut would.
func (p *Proc) Kill() {
	p.Cmd.Process.Kill()
	<-p.Done
}

// Stop asks a process to stop (SIGTERM), killing it after grace.
func (p *Proc) Stop(grace time.Duration) error {
	select {
	case <-p.Done:
		return p.Err
	default:
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Done:
		return p.Err
	case <-time.After(grace):
		p.Cmd.Process.Kill()
		<-p.Done
		return fmt.Errorf("%s (pid %d) did not stop within %v; killed", p.Name, p.Cmd.Process.Pid, grace)
	}
}

// StopAll stops every process, newest first.
func (r *Rig) StopAll() error {
	r.mu.Lock()
	procs := r.procs
	r.procs = nil
	r.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].Stop(5 * time.Second); err != nil && !isSignalExit(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func isSignalExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee)
}

// Keys are the files MakeKeys writes.
type Keys struct {
	StationKey, StationPub            string // Ed25519: signs packets, authenticates the uplink
	CentralHPKE, CentralHPKEPub       string
	CentralReceipt, CentralReceiptPub string
	StationsDir                       string // central's trusted station keys, <id>.pub
}

// MakeKeys creates the station's and central's keys (once; existing keys
// are kept, as a real booth's would be).
func (r *Rig) MakeKeys() (Keys, error) {
	d := filepath.Join(r.Dir, "keys")
	k := Keys{
		StationKey: filepath.Join(d, "station.key"), StationPub: filepath.Join(d, "station.pub"),
		CentralHPKE: filepath.Join(d, "central-hpke.key"), CentralHPKEPub: filepath.Join(d, "central-hpke.pub"),
		CentralReceipt: filepath.Join(d, "central-receipt.key"), CentralReceiptPub: filepath.Join(d, "central-receipt.pub"),
		StationsDir: filepath.Join(d, "stations"),
	}
	if err := os.MkdirAll(k.StationsDir, 0o700); err != nil {
		return k, err
	}
	if !exists(k.StationKey) {
		if _, err := packet.GenerateStationKey(k.StationKey, k.StationPub, r.StationID); err != nil {
			return k, err
		}
	}
	if !exists(k.CentralHPKE) {
		if _, err := packet.GenerateCentralKey(k.CentralHPKE, k.CentralHPKEPub); err != nil {
			return k, err
		}
	}
	if !exists(k.CentralReceipt) {
		if _, err := uplink.GenerateKeyFiles(k.CentralReceipt, k.CentralReceiptPub); err != nil {
			return k, err
		}
	}
	pub, err := os.ReadFile(k.StationPub)
	if err != nil {
		return k, err
	}
	return k, os.WriteFile(filepath.Join(k.StationsDir, r.StationID+".pub"), pub, 0o644)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

var centralReady = regexp.MustCompile(`central listening on (ws://(\S+)/uplink)`)

// StartCentral runs the reference central on a free loopback port.
func (r *Rig) StartCentral(ctx context.Context, k Keys) (*Proc, error) {
	p, m, err := r.Start(ctx, "central", centralReady, filepath.Join(r.Bin, "central"), "serve",
		"-listen", "127.0.0.1:0", "-store", filepath.Join(r.Dir, "central-store"), "-key", k.CentralReceipt,
		"-stations", k.StationsDir, "-hpke-key", k.CentralHPKE)
	if err != nil {
		return p, err
	}
	r.CentralURL, r.CentralHTTP = m[1], "http://"+m[2]
	return p, nil
}

var (
	portLine    = regexp.MustCompile(`^port: (\S+)`)
	controlLine = regexp.MustCompile(`^control: (\S+)`)
)

// StartZFM runs the simulated serial fingerprint module; extra are fwsim
// flags (e.g. "-baud", "115200").
func (r *Rig) StartZFM(ctx context.Context, extra ...string) (*Proc, error) {
	dir := filepath.Join(r.Dir, "zfm")
	os.MkdirAll(dir, 0o700)
	args := append([]string{"zfm", "-dir", dir, "-stdin=false"}, extra...)
	p, m, err := r.Start(ctx, "fwsim-zfm", portLine, filepath.Join(r.Bin, "fwsim"), args...)
	if err != nil {
		return p, err
	}
	r.ZFMPort = m[1]
	r.ZFMControl = filepath.Join(dir, "control.sock")
	// The control line follows the port line; wait for the socket itself.
	for i := 0; i < 100 && !exists(r.ZFMControl); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	return p, nil
}

// ZFM sends one control command to the simulated scanner and returns its answer.
func (r *Rig) ZFM(command string) (string, error) {
	c, err := net.DialTimeout("unix", r.ZFMControl, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("scanner simulator control: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, command+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil && line == "" {
		return "", fmt.Errorf("scanner simulator control %q: %w", command, err)
	}
	if strings.HasPrefix(line, "error") || strings.HasPrefix(line, "ERR") {
		return line, fmt.Errorf("scanner simulator: %s", line)
	}
	return line, nil
}

var streamLine = regexp.MustCompile(`^stream: (\S+)`)

// StartCamera runs the simulated camera (an MJPEG stream on loopback)
// playing portrait (an absolute path) through script (scenario text; ""
// for the built-in one).
func (r *Rig) StartCamera(ctx context.Context, portrait, script string, extra ...string) (*Proc, error) {
	args := []string{"camera", "-portrait", portrait}
	if script != "" {
		path := filepath.Join(r.Dir, "camera-script.txt")
		if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "-script", path)
	}
	args = append(args, extra...)
	p, m, err := r.Start(ctx, "fwsim-camera", streamLine, filepath.Join(r.Bin, "fwsim"), args...)
	if err != nil {
		return p, err
	}
	r.CameraURL = m[1]
	return p, nil
}

var hidDirLine = regexp.MustCompile(`^socket_dir: (\S+)`)

// StartHID runs the simulated slap scanner, foot pedal and status light on
// the virtual HID transport; control them with Proc.Send (see fwsim hid).
func (r *Rig) StartHID(ctx context.Context, extra ...string) (*Proc, error) {
	dir := filepath.Join(r.Dir, "hid")
	args := append([]string{"hid", "-dir", dir}, extra...)
	p, m, err := r.Start(ctx, "fwsim-hid", hidDirLine, filepath.Join(r.Bin, "fwsim"), args...)
	if err != nil {
		return p, err
	}
	r.HIDDir = m[1]
	return p, nil
}

var vpcdLine = regexp.MustCompile(`^vpcd: (\S+)`)

// StartCard runs the simulated chip card behind vpcd (pcscd must be
// running: see pcscdtest.Start). data is a data-set directory for a
// personalized card, or "" for a blank one.
func (r *Rig) StartCard(ctx context.Context, data string) (*Proc, error) {
	args := []string{"card", "--stdin=false"}
	if data != "" {
		args = append(args, "--data", data)
	} else {
		args = append(args, "--blank")
	}
	p, _, err := r.Start(ctx, "fwsim-card", vpcdLine, filepath.Join(r.Bin, "fwsim"), args...)
	return p, err
}

// Config describes the stationd configuration WriteConfig writes.
type Config struct {
	Keys   Keys
	Uplink bool // upload to the rig's central
	Face   bool // require a portrait
	// ExceptionPhoto requires a photo of the hand for a finger exception.
	ExceptionPhoto bool
	Fingers        []int  // finger order; nil: the default ten
	Card           string // "read" or "personalize": adds the PC/SC reader and the card step
	CSCA           string // CSCA certificate file for reading cards
	// DSCert and DSKey: the document signer, for personalizing cards.
	DSCert, DSKey string
	Extra         string // appended TOML
}

// WriteConfig writes stationd.toml for the rig's devices.
func (r *Rig) WriteConfig(c Config) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by simrig\n[station]\nid = %q\ndata_dir = %q\n\n", r.StationID, filepath.Join(r.Dir, "station-data"))
	fmt.Fprintf(&b, "[registry]\nretry_min = \"100ms\"\nretry_max = \"500ms\"\n\n")
	if r.Token == "" {
		var tb [16]byte
		rand.Read(tb[:])
		r.Token = hex.EncodeToString(tb[:])
	}
	fmt.Fprintf(&b, "[auth]\ntoken = %q\n\n", r.Token)
	fmt.Fprintf(&b, "[session]\nface = %v\nexception_photo = %v\n", c.Face, c.ExceptionPhoto)
	if c.Card != "" {
		fmt.Fprintf(&b, "card = %q\n", c.Card)
	}
	if c.Fingers != nil {
		fmt.Fprintf(&b, "finger_order = %s\n", strings.ReplaceAll(fmt.Sprint(c.Fingers), " ", ", "))
	}
	fmt.Fprintf(&b, "\n[packet]\nsigning_key = %q\ncentral_public_key = %q\n\n", c.Keys.StationKey, c.Keys.CentralHPKEPub)
	if c.Uplink {
		fmt.Fprintf(&b, "[uplink]\nurl = %q\ncentral_keys = [%q]\n\n", r.CentralURL, c.Keys.CentralReceiptPub)
	}
	if r.CameraURL != "" {
		fmt.Fprintf(&b, "[[device]]\nid = \"camera\"\ndriver = \"opencv\"\nport = %q\n\n", r.CameraURL)
	}
	if r.HIDDir != "" {
		for _, d := range [][2]string{{"slap-scanner", "hid-slap"}, {"pedal", "hid-pedal"}, {"status-light", "hid-light"}} {
			fmt.Fprintf(&b, "[[device]]\nid = %q\ndriver = %q\n[device.options]\ntransport = \"virtual\"\nsocket_dir = %q\n\n", d[0], d[1], r.HIDDir)
		}
	}
	if r.ZFMPort != "" {
		fmt.Fprintf(&b, "[[device]]\nid = \"finger-scanner\"\ndriver = \"zfm\"\nport = %q\n\n", r.ZFMPort)
	}
	if c.Card != "" {
		fmt.Fprintf(&b, "[card]\ncsca_files = [%q]\nds_cert = %q\nds_key = %q\n\n", c.CSCA, c.DSCert, c.DSKey)
		fmt.Fprintf(&b, "[[device]]\nid = \"card-reader\"\ndriver = \"pcsc\"\n[device.options]\nreader = \"Virtual PCD 00 00\"\n\n")
	}
	b.WriteString(c.Extra)
	r.ConfigPath = filepath.Join(r.Dir, "stationd.toml")
	return r.ConfigPath, os.WriteFile(r.ConfigPath, []byte(b.String()), 0o600)
}

var uiLine = regexp.MustCompile(`operator UI at http://(\S+?)/`)

// StartStationd runs stationd with the rig's configuration on listen
// ("127.0.0.1:0" for any free port).
func (r *Rig) StartStationd(ctx context.Context, listen string) (*Proc, error) {
	p, m, err := r.Start(ctx, "stationd", uiLine, filepath.Join(r.Bin, "stationd"), "-config", r.ConfigPath, "-listen", listen)
	if err != nil {
		return p, err
	}
	r.StationAddr = m[1]
	return p, nil
}
