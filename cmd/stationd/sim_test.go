package main

// End-to-end tests on simulated devices: every component a real process
// (stationd, the serial scanner simulator on a pty, the reference central),
// talking over the real interfaces.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openenroll/stationd/cmd/internal/simrig"
	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
	"github.com/openenroll/stationd/station/outbox"
	"github.com/openenroll/stationd/station/packet/ansinist"
	"github.com/openenroll/stationd/station/packet/iso19794"
	"github.com/openenroll/stationd/station/uplink"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds stationd, fwsim and central once per test run.
func binaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binaries")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "stationd-e2e-bin")
		if binErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			binErr = simrig.Build(ctx, filepath.Join("..", ".."), binDir)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

// client is the test's operator UI: a websocket with request/reply.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	mu     sync.Mutex
	n      int
	events chan api.Envelope
}

func connect(t *testing.T, rig *simrig.Rig) *client {
	t.Helper()
	ws := dial(t, rig.StationAddr, rig.Token)
	c := &client{t: t, ws: ws, events: make(chan api.Envelope, 1024)}
	go func() {
		for {
			mt, data, err := ws.ReadMessage()
			if err != nil {
				close(c.events)
				return
			}
			if mt != websocket.TextMessage {
				continue // preview images
			}
			var e api.Envelope
			if json.Unmarshal(data, &e) == nil {
				select {
				case c.events <- e:
				default: // the test does not read previews it does not need
				}
			}
		}
	}()
	return c
}

// call sends a command and waits for its reply, failing on an error reply.
func (c *client) call(typ string, payload any, out any) {
	c.t.Helper()
	if err := c.try(typ, payload, out); err != nil {
		c.t.Fatalf("%s: %v", typ, err)
	}
}

func (c *client) try(typ string, payload any, out any) error {
	c.t.Helper()
	c.mu.Lock()
	c.n++
	id := fmt.Sprintf("r%d", c.n)
	c.mu.Unlock()
	if err := c.ws.WriteJSON(map[string]any{"v": 1, "type": typ, "id": id, "payload": payload}); err != nil {
		return err
	}
	timeout := time.After(60 * time.Second)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				return fmt.Errorf("connection closed")
			}
			if e.ID != id {
				continue
			}
			if e.Type == "error" {
				return fmt.Errorf("error reply: %s", e.Payload)
			}
			if out != nil {
				return json.Unmarshal(e.Payload, out)
			}
			return nil
		case <-timeout:
			return fmt.Errorf("no reply in 60 s")
		}
	}
}

func (c *client) waitEvent(typ string, d time.Duration) api.Envelope {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				c.t.Fatalf("connection closed waiting for %s", typ)
			}
			if e.Type == typ {
				return e
			}
		case <-timeout:
			c.t.Fatalf("no %s event within %v", typ, d)
		}
	}
}

// lifted waits for stationd to see the finger leave the scanner's glass,
// as the next applicant's finger only comes after a moment; it reports
// false when no such event came in time.
func (c *client) lifted(d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				return false
			}
			if e.Type == "capture.finger.lifted" {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

type summary struct {
	ID         string   `json:"id"`
	State      string   `json:"state"`
	NextFinger int      `json:"next_finger"`
	Missing    []string `json:"missing"`
}

type fingerResult struct {
	Score    int      `json:"score"`
	Reasons  []string `json:"reasons"`
	Accepted bool     `json:"accepted"`
	Done     bool     `json:"done"`
}

// enroll runs one whole enrollment through the websocket: nine fingers on
// the simulated scanner, one exception, review, finalize.
func enrollOne(t *testing.T, rig *simrig.Rig, c *client, applicant string, identity int) string {
	t.Helper()
	var s summary
	c.call("session.start", map[string]any{"applicant": applicant, "operator": "officer-1"}, &s)
	for pos := range 10 {
		pos++
		if pos == 6 { // left thumb: bandaged
			c.call("session.finger.except", map[string]any{"session": s.ID, "position": pos, "kind": "bandaged", "reason": "bandaged after an injury"}, nil)
			continue
		}
		if _, err := rig.ZFM(fmt.Sprintf("place synth:%d:%d", identity, pos)); err != nil {
			t.Fatal(err)
		}
		var fr fingerResult
		c.call("session.finger.capture", map[string]any{"session": s.ID, "position": pos}, &fr)
		if !fr.Accepted || fr.Score <= 0 {
			t.Fatalf("finger %d: %+v", pos, fr)
		}
		if _, err := rig.ZFM("lift"); err != nil {
			t.Fatal(err)
		}
		if !c.lifted(15 * time.Second) {
			t.Fatalf("finger %d: stationd did not see it lifted", pos)
		}
		if !fr.Done {
			// Below the threshold: the officer tries again (best of N).
			rig.ZFM(fmt.Sprintf("place synth:%d:%d", identity, pos))
			c.call("session.finger.capture", map[string]any{"session": s.ID, "position": pos}, &fr)
			rig.ZFM("lift")
			c.lifted(15 * time.Second)
			t.Logf("finger %d second attempt: score %d", pos, fr.Score)
		}
	}
	c.call("session.review", map[string]any{"session": s.ID}, &s)
	if s.State != "review" {
		t.Fatalf("review: %+v", s)
	}
	var fin struct {
		PacketID string `json:"packet_id"`
		Saved    bool   `json:"saved"`
	}
	c.call("session.finalize", map[string]any{"session": s.ID}, &fin)
	if !fin.Saved || len(fin.PacketID) != 64 {
		t.Fatalf("finalize: %+v", fin)
	}
	return fin.PacketID
}

// newRig is an empty simulated booth with its keys, stopped (by process
// id) when the test ends.
func newRig(t *testing.T) (*simrig.Rig, simrig.Keys) {
	t.Helper()
	bin := binaries(t)
	rig, err := simrig.New(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rig.StopAll(); err != nil {
			t.Error(err)
		}
	})
	keys, err := rig.MakeKeys()
	if err != nil {
		t.Fatal(err)
	}
	return rig, keys
}

// startRig is a booth with the simulated scanner and, with uplinkOn, the
// reference central.
func startRig(t *testing.T, uplinkOn bool) (*simrig.Rig, simrig.Keys) {
	t.Helper()
	rig, keys := newRig(t)
	ctx := context.Background()
	if uplinkOn {
		if _, err := rig.StartCentral(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	// Line rate is not emulated here: the devices' own tests cover pacing,
	// and ten paced uploads would take over a minute.
	if _, err := rig.StartZFM(ctx, "-no-pace"); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.WriteConfig(simrig.Config{Keys: keys, Uplink: uplinkOn}); err != nil {
		t.Fatal(err)
	}
	return rig, keys
}

func TestEndToEndEnrollmentReachesCentral(t *testing.T) {
	rig, _ := startRig(t, true)
	st, err := rig.StartStationd(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, rig)
	if e := <-c.events; e.Type != "hello" {
		t.Fatalf("first message %s", e.Type)
	}
	// The scanner must be up before capture starts.
	waitReady(t, rig, "finger-scanner")
	// The UI learns the link's state without asking.
	for deadline := time.Now().Add(20 * time.Second); ; {
		e := c.waitEvent("uplink.status", 10*time.Second)
		var us struct {
			State string `json:"state"`
		}
		json.Unmarshal(e.Payload, &us)
		if us.State == "connected" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uplink never reported connected: last %s", e.Payload)
		}
	}

	pid := enrollOne(t, rig, c, "APP-E2E-1", 11)

	// The uplink delivers it; central opens and stores it.
	store, err := uplink.OpenStore(filepath.Join(rig.Dir, "central-store"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if h, err := store.Held(pid); err == nil && h != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central does not hold packet %s after 60 s; see %s", pid, rig.Dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.waitEvent("uplink.ack", 30*time.Second)

	// Stop stationd to read its outbox: the packet is acknowledged there and
	// bit-identical to central's copy.
	if err := st.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.Open(filepath.Join(rig.Dir, "station-data", "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	ent, err := ob.Get(pid)
	if err != nil {
		t.Fatal(err)
	}
	if ent.State != outbox.Acknowledged {
		t.Fatalf("outbox state %s, want acknowledged", ent.State)
	}
	local, err := ob.Data(pid)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := store.Packet(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(local, remote) {
		t.Fatal("packet at central differs from the outbox copy")
	}
	// Central wrote the records as standard files; they parse back.
	opened := filepath.Join(rig.Dir, "central-store", "opened", pid)
	an2, err := os.ReadFile(filepath.Join(opened, "transaction.an2"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := ansinist.Decode(an2)
	if err != nil {
		t.Fatal(err)
	}
	if len(tx.Type14) != 9 || len(tx.Type2) != 1 {
		t.Fatalf("transaction has %d Type-14 and %d Type-2 records, want 9 and 1", len(tx.Type14), len(tx.Type2))
	}
	fir, err := os.ReadFile(filepath.Join(opened, "fingers.fir"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := iso19794.ParseFinger(fir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Representations) != 9 {
		t.Fatalf("ISO record has %d fingers, want 9", len(rec.Representations))
	}
	var man struct {
		ApplicantRef string `json:"applicant_ref"`
		StationID    string `json:"station_id"`
	}
	mb, _ := os.ReadFile(filepath.Join(opened, "manifest.json"))
	if json.Unmarshal(mb, &man); man.ApplicantRef != "APP-E2E-1" || man.StationID != rig.StationID {
		t.Fatalf("manifest: %s", mb)
	}
}

// waitReady waits until stationd lists the device as ready.
func waitReady(t *testing.T, rig *simrig.Rig, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var body struct {
			Devices []devices.Status `json:"devices"`
		}
		if getJSON("http://"+rig.StationAddr+"/api/devices", rig.Token, &body) == nil {
			for _, d := range body.Devices {
				if d.Info.ID == id && d.State == devices.StateReady {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("device %s not ready after 30 s", id)
}

// The real binary on a free port with the simulated scanner: a websocket
// client sees the scanner unplugged (device.removed) and plugged back
// (device.added), with stationd running throughout.
func TestWebsocketSeesScannerUnplugAndReplug(t *testing.T) {
	rig, _ := startRig(t, false)
	if _, err := rig.StartStationd(context.Background(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, rig, "finger-scanner")
	c := connect(t, rig)
	if e := <-c.events; e.Type != "hello" {
		t.Fatalf("first message %s", e.Type)
	}
	if _, err := rig.ZFM("hangup"); err != nil {
		t.Fatal(err)
	}
	var ev devices.Event
	e := c.waitEvent("device.removed", 10*time.Second)
	json.Unmarshal(e.Payload, &ev)
	if ev.Device.ID != "finger-scanner" || ev.State != devices.StateAbsent {
		t.Fatalf("removed: %s", e.Payload)
	}
	if _, err := rig.ZFM("return"); err != nil {
		t.Fatal(err)
	}
	e = c.waitEvent("device.added", 10*time.Second)
	json.Unmarshal(e.Payload, &ev)
	if ev.Device.ID != "finger-scanner" || ev.State != devices.StateReady {
		t.Fatalf("added: %s", e.Payload)
	}
}
