package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
)

var (
	addrLine  = regexp.MustCompile(`operator UI at http://([0-9.:]+)/`)
	tokenLine = regexp.MustCompile(`login token: (\S+)`)
)

// lineWriter hands stationd's stdout to the test line by line.
type lineWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		s := w.buf.String()
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		w.lines <- s[:i]
		w.buf.Reset()
		w.buf.WriteString(s[i+1:])
	}
	return len(p), nil
}

// waitAddr reads stationd's output up to its address line and returns the
// address and the login token printed before it.
func waitAddr(t *testing.T, lines <-chan string) (addr, token string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stationd exited before printing its address")
			}
			if m := tokenLine.FindStringSubmatch(l); m != nil {
				token = m[1]
			}
			if m := addrLine.FindStringSubmatch(l); m != nil {
				return m[1], token
			}
		case <-timeout:
			t.Fatal("stationd did not print its address")
		}
	}
}

func dial(t *testing.T, addr, token string) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func readEnv(t *testing.T, ws *websocket.Conn) api.Envelope {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var e api.Envelope
	if err := ws.ReadJSON(&e); err != nil {
		t.Fatalf("reading websocket: %v", err)
	}
	if e.V != api.ProtocolVersion || e.Time.IsZero() {
		t.Fatalf("envelope without version or time: %+v", e)
	}
	return e
}

// switchable is a device family for this test only, whose presence the test
// controls: it exercises stationd's plumbing from registry to websocket.
// (The end-to-end test with real simulated hardware is in sim_test.go.)
var switchable = struct {
	sync.Mutex
	present bool
	rep     devices.Reporter
}{}

type switchDev struct{}

func (switchDev) Info() devices.Info { return devices.Info{Vendor: "test", Model: "switch"} }
func (switchDev) Close() error       { return nil }

func init() {
	devices.Register(devices.Driver{Name: "stationd-test-switch", Kind: devices.KindPedal,
		Open: func(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
			switchable.Lock()
			defer switchable.Unlock()
			if !switchable.present {
				return nil, errors.New("not plugged in")
			}
			switchable.rep = rep
			return switchDev{}, nil
		}})
}

func TestWebsocketStreamsDeviceAddedAndRemoved(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "stationd.toml")
	os.WriteFile(cfg, []byte(`
[station]
id = "test-booth"
data_dir = "`+dir+`"
[registry]
retry_min = "10ms"
retry_max = "50ms"
[[device]]
id = "pedal"
driver = "stationd-test-switch"
`), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 100)}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", cfg, "-listen", "127.0.0.1:0"}, out, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	addr, token := waitAddr(t, out.lines)
	if token == "" {
		t.Fatal("stationd printed no login token")
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("websocket without a login accepted: %v", err)
	}
	ws := dial(t, addr, token)
	hello := readEnv(t, ws)
	if hello.Type != "hello" {
		t.Fatalf("first message %q, want hello", hello.Type)
	}
	var hp struct {
		Station string           `json:"station"`
		Devices []devices.Status `json:"devices"`
	}
	json.Unmarshal(hello.Payload, &hp)
	if hp.Station != "test-booth" || len(hp.Devices) != 1 || hp.Devices[0].State != devices.StateAbsent {
		t.Fatalf("hello payload: %s", hello.Payload)
	}

	switchable.Lock()
	switchable.present = true
	switchable.Unlock()
	want := func(typ string) devices.Event {
		for {
			e := readEnv(t, ws)
			if e.Type != typ {
				continue
			}
			var ev devices.Event
			if err := json.Unmarshal(e.Payload, &ev); err != nil {
				t.Fatal(err)
			}
			return ev
		}
	}
	if ev := want("device.added"); ev.Device.ID != "pedal" || ev.State != devices.StateReady || ev.Device.Model != "switch" {
		t.Fatalf("added: %+v", ev)
	}
	switchable.Lock()
	switchable.present = false
	rep := switchable.rep
	switchable.Unlock()
	rep.SetState(devices.StateAbsent, "unplugged")
	if ev := want("device.removed"); ev.Device.ID != "pedal" || ev.State != devices.StateAbsent {
		t.Fatalf("removed: %+v", ev)
	}

	// Commands: a good one is answered with its request id, a bad one with an error naming the problem.
	ws.WriteJSON(map[string]any{"v": 1, "type": "devices.list", "id": "r1"})
	for {
		e := readEnv(t, ws)
		if e.Type == "devices.list.result" {
			if e.ID != "r1" {
				t.Fatalf("reply id %q", e.ID)
			}
			break
		}
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"v":2,"type":"devices.list"}`))
	for {
		e := readEnv(t, ws)
		if e.Type == "error" {
			if !strings.Contains(string(e.Payload), "protocol version 2") {
				t.Fatalf("error reply: %s", e.Payload)
			}
			break
		}
	}
}

// The real binary: health, metrics, a foreign origin refused, and SIGTERM.
func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "stationd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addr, token := waitAddr(t, lines)

	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"stationd_build_info{", "stationd_ws_clients", "go_goroutines"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	h := http.Header{"Origin": {"http://evil.example"}, "Authorization": {"Bearer " + token}}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", h); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("websocket from a foreign origin accepted: %v", err)
	}
	ws := dial(t, addr, token)
	if e := readEnv(t, ws); e.Type != "hello" {
		t.Fatalf("first message %q", e.Type)
	}

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("stationd exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("stationd still running 2 s after SIGTERM\n%s", stderr.String())
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	// The websocket client is told the server is going away.
	ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("websocket after stop: %v", err)
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no stop log line:\n%s", stderr.String())
	}
}

func TestBadConfigStopsStartup(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.toml")
	os.WriteFile(cfg, []byte("[station]\nid = \"x\"\nidd = 3\n"), 0o600)
	err := run(context.Background(), []string{"-config", cfg}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s:3: key station.idd", cfg)) {
		t.Fatalf("want file:line:key error, got %v", err)
	}
}

func getJSON(url, token string, out any) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
