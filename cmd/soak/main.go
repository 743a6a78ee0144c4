// Command soak measures stationd's memory over a long live preview: the
// issue's "peak resident memory of stationd during an hour-long simulated
// preview (goal <= 200 MB, flat: no growth)".
//
// It starts the simulated camera (the built-in script: a person sits down,
// moves, is badly lit, holds still, leaves, in a loop) and stationd on it,
// connects one websocket client that acknowledges every preview frame the
// way the operator UI does, and repeats portrait captures for -duration:
// session.start, session.face.capture (the live preview with every check on
// every frame until auto-capture fires), session.abandon. Every -sample it
// reads stationd's VmRSS and VmHWM from /proc and prints one row; at the end
// it prints the peak, the mean of the first and of the last tenth of the
// run, and the least-squares slope of RSS over the second half (growth per
// hour). It exits 1 when the peak exceeds -max-rss or the slope exceeds
// -max-growth.
//
//	go build -o bin/ ./cmd/... && bin/soak -bin bin -duration 1h
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openenroll/stationd/cmd/internal/simrig"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the built stationd and fwsim")
	dir := flag.String("dir", "", "working directory (default: a new temporary one)")
	duration := flag.Duration("duration", time.Hour, "how long to run the preview")
	sample := flag.Duration("sample", 30*time.Second, "how often to read stationd's memory")
	maxRSS := flag.Float64("max-rss", 200, "fail when stationd's peak resident memory exceeds this many MB")
	maxGrowth := flag.Float64("max-growth", 10, "fail when resident memory grows faster than this many MB per hour over the second half")
	portrait := flag.String("portrait", filepath.Join("testdata", "faces", "grace_hopper_512x512.jpg"), "portrait the simulated camera plays")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dir == "" {
		d, err := os.MkdirTemp("", "soak-")
		if err != nil {
			fail(err)
		}
		*dir = d
		defer os.RemoveAll(d)
	}
	rig, err := simrig.New(*bin, *dir)
	if err != nil {
		fail(err)
	}
	res, err := run(ctx, rig, *portrait, *duration, *sample)
	if serr := rig.StopAll(); serr != nil {
		fmt.Fprintln(os.Stderr, "soak: stopping:", serr)
	}
	if err != nil {
		fail(err)
	}
	fmt.Printf("peak_rss_MB %.1f  first_tenth_MB %.1f  last_tenth_MB %.1f  slope_2nd_half_MB_per_h %+.2f  previews %d  captures %d  fps %.1f  camera_unavailable %d\n",
		res.peak, res.first, res.last, res.slope, res.previews, res.captures, res.fps, res.unavailable)
	if res.peak > *maxRSS || res.slope > *maxGrowth {
		fmt.Fprintf(os.Stderr, "soak: FAIL: peak %.1f MB (limit %.0f), growth %.2f MB/h (limit %.0f)\n", res.peak, *maxRSS, res.slope, *maxGrowth)
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "soak:", err)
	os.Exit(2)
}

type result struct {
	peak, first, last, slope, fps   float64
	previews, captures, unavailable int64
}

func run(ctx context.Context, rig *simrig.Rig, portrait string, duration, every time.Duration) (result, error) {
	var res result
	abs, err := filepath.Abs(portrait)
	if err != nil {
		return res, err
	}
	keys, err := rig.MakeKeys()
	if err != nil {
		return res, err
	}
	if _, err := rig.StartCamera(ctx, abs, ""); err != nil {
		return res, err
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Face: true}); err != nil {
		return res, err
	}
	sd, err := rig.StartStationd(ctx, "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	pid := sd.Cmd.Process.Pid
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+rig.StationAddr+"/ws", http.Header{"Authorization": {"Bearer " + rig.Token}})
	if err != nil {
		return res, fmt.Errorf("connecting to stationd: %w", err)
	}
	defer ws.Close()
	c := newClient(ws)
	if err := c.call(ctx, "preview.window", map[string]any{"frames": 2}, nil); err != nil {
		return res, err
	}

	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	start := time.Now()
	var captures, unavailable atomic.Int64
	loopErr := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			var s struct {
				ID string `json:"id"`
			}
			if err := c.call(ctx, "session.start", map[string]any{"applicant": "SOAK-" + strconv.FormatInt(captures.Load(), 10), "operator": "soak"}, &s); err != nil {
				loopErr <- err
				return
			}
			err := c.call(ctx, "session.face.capture", map[string]any{"session": s.ID}, nil)
			if err == nil {
				captures.Add(1)
			}
			actx, acancel := context.WithTimeout(context.Background(), 10*time.Second)
			aerr := c.call(actx, "session.abandon", map[string]any{"session": s.ID, "reason": "soak test"}, nil)
			acancel()
			if err != nil && strings.Contains(err.Error(), "device_unavailable") {
				// the camera is not (yet, or no longer) open: stationd
				// re-opens it; wait and count it
				unavailable.Add(1)
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
				err = nil
			}
			if err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "face_timeout") {
				loopErr <- fmt.Errorf("face capture: %w", err)
				return
			}
			if aerr != nil {
				loopErr <- fmt.Errorf("abandon: %w", aerr)
				return
			}
		}
		loopErr <- nil
	}()

	fmt.Println("elapsed_s\trss_MB\thwm_MB\tpreviews\tcaptures")
	var ts, rss []float64
	tick := time.NewTicker(every)
	defer tick.Stop()
	sampleNow := func() error {
		r, h, err := memory(pid)
		if err != nil {
			return fmt.Errorf("stationd (pid %d): %w", pid, err)
		}
		el := time.Since(start).Seconds()
		ts, rss = append(ts, el), append(rss, r)
		res.peak = max(res.peak, h)
		fmt.Printf("%.0f\t%.1f\t%.1f\t%d\t%d\n", el, r, h, c.previews.Load(), captures.Load())
		return nil
	}
	if err := sampleNow(); err != nil {
		return res, err
	}
	for done := false; !done; {
		select {
		case <-tick.C:
			if err := sampleNow(); err != nil {
				return res, err
			}
		case err := <-loopErr:
			if err != nil && ctx.Err() == nil {
				return res, err
			}
			done = true
		case <-ctx.Done():
			done = true
		}
	}
	if err := sampleNow(); err != nil {
		return res, err
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return res, errors.New("interrupted")
	}
	n := len(rss)
	tenth := max(1, n/10)
	res.first = mean(rss[:tenth])
	res.last = mean(rss[n-tenth:])
	res.slope = slope(ts[n/2:], rss[n/2:]) * 3600
	res.previews = c.previews.Load()
	res.captures = captures.Load()
	res.unavailable = unavailable.Load()
	res.fps = float64(res.previews) / time.Since(start).Seconds()
	return res, nil
}

// memory reads a process's resident set and its peak, in MB.
func memory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc status")
	}
	return rss, hwm, nil
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// slope is the least-squares slope of y over x.
func slope(x, y []float64) float64 {
	if len(x) < 2 {
		return 0
	}
	mx, my := mean(x), mean(y)
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

// client is a minimal operator: it sends commands, routes their replies,
// and acknowledges every preview frame (the UI's flow control).
type client struct {
	ws       *websocket.Conn
	n        atomic.Int64
	previews atomic.Int64
	wmu      chan struct{}
	replies  chan envelope
}

type envelope struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func newClient(ws *websocket.Conn) *client {
	c := &client{ws: ws, wmu: make(chan struct{}, 1), replies: make(chan envelope, 64)}
	go func() {
		defer close(c.replies)
		for {
			mt, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if mt == websocket.BinaryMessage {
				c.previews.Add(1)
				c.write(map[string]any{"v": 1, "type": "preview.ack", "payload": map[string]any{}})
				continue
			}
			var e envelope
			if json.Unmarshal(data, &e) == nil && e.ID != "" {
				c.replies <- e
			}
		}
	}()
	return c
}

func (c *client) write(v any) error {
	c.wmu <- struct{}{}
	defer func() { <-c.wmu }()
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteJSON(v)
}

// call sends one command and waits for its reply; only one runs at a time.
func (c *client) call(ctx context.Context, typ string, payload, out any) error {
	id := "s" + strconv.FormatInt(c.n.Add(1), 10)
	if err := c.write(map[string]any{"v": 1, "type": typ, "id": id, "payload": payload}); err != nil {
		return fmt.Errorf("%s: %w", typ, err)
	}
	for {
		select {
		case e, ok := <-c.replies:
			if !ok {
				return fmt.Errorf("%s: stationd closed the connection", typ)
			}
			if e.ID != id {
				continue
			}
			if e.Type == "error" {
				return fmt.Errorf("%s: %s", typ, e.Payload)
			}
			if out != nil {
				return json.Unmarshal(e.Payload, out)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
