package hid

import (
	"bytes"
	"context"
	"errors"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/firmware-sim/hidsim"
)

// shortDir returns a socket directory short enough for unix socket paths
// (108 bytes), removed at the end of the test.
func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "hid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func testImage(w, h int, seed uint64) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < len(img.Pix); i += 8 {
		v := r.Uint64()
		for j := i; j < min(i+8, len(img.Pix)); j++ {
			img.Pix[j] = uint8(v)
			v >>= 8
		}
	}
	return img
}

type simRig struct {
	hub   *hidsim.Hub
	slap  *hidsim.Slap
	pedal *hidsim.Pedal
	light *hidsim.Light
	img   *image.Gray
}

func newRig(t *testing.T) *simRig {
	t.Helper()
	hub, err := hidsim.NewHub(shortDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	r := &simRig{hub: hub, img: testImage(400, 300, 1),
		pedal: &hidsim.Pedal{Serial: "P1"}, light: &hidsim.Light{Serial: "L1"}}
	r.slap = &hidsim.Slap{Serial: "S1", Source: func(hidsim.Arm) (*image.Gray, error) { return r.img, nil }}
	for name, d := range map[string]hidsim.Device{"slap": r.slap, "pedal": r.pedal, "light": r.light} {
		if err := hub.Plug(name, d); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *simRig) cfg(id string) devices.Config {
	return devices.Config{ID: id, Port: r.hub.Dir()}
}

func virtualLink(p uint16) LinkOptions {
	return LinkOptions{Transport: "virtual", VendorID: SimVendorID, ProductID: p, CommandTimeout: Duration{Duration: 5 * time.Second}}
}

func openSlap(t *testing.T, r *simRig) *Slap {
	t.Helper()
	o := DefaultSlapOptions()
	o.LinkOptions = virtualLink(SimProductSlap)
	s, err := OpenSlap(t.Context(), r.cfg("slap1"), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEnumerateVirtual(t *testing.T) {
	r := newRig(t)
	list, err := VirtualTransport{Dir: r.hub.Dir()}.Enumerate(Filter{VendorID: SimVendorID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("enumerated %d devices, want 3: %+v", len(list), list)
	}
	only, _ := VirtualTransport{Dir: r.hub.Dir()}.Enumerate(Filter{ProductID: SimProductPedal})
	if len(only) != 1 || only[0].Serial != "P1" || only[0].ReportSize != PedalReportSize {
		t.Fatalf("pedal filter: %+v", only)
	}
	none, err := VirtualTransport{Dir: filepath.Join(r.hub.Dir(), "nothing")}.Enumerate(Filter{})
	if err != nil || len(none) != 0 {
		t.Fatalf("missing directory: %v %v", none, err)
	}
}

func TestSlapIdentifyAndCapture(t *testing.T) {
	r := newRig(t)
	r.img = testImage(hidsim.SlapWidth, hidsim.SlapHeight, 2) // one full-size slap
	s := openSlap(t, r)
	id := s.Identity()
	if id.MaxPPI < 1000 || id.PPI != 500 || id.Width != 1600 || id.Height != 1500 {
		t.Fatalf("identity %+v: want >= 1000 ppi geometry, 1600x1500 at 500 ppi", id)
	}
	var pres []Presence
	img, err := s.Capture(t.Context(), SlapRequest{Kind: RightFour, OnPresence: func(p Presence) { pres = append(pres, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Gray.Pix, r.img.Pix) {
		t.Fatal("received image differs from the scanner's")
	}
	if img.Stats.Bad != 0 || img.Stats.OutOfOrder != 0 {
		t.Fatalf("clean link needed resends: %+v", img.Stats)
	}
	if len(pres) != 5 || !pres[4].Ready || pres[4].Zones != 0x0F {
		t.Fatalf("presence events %+v: want 4 fingers landing then ready", pres)
	}
}

func TestSlapLossyLinkRetries(t *testing.T) {
	r := newRig(t)
	r.img = testImage(640, 480, 3)
	s := openSlap(t, r)
	r.slap.SetFaults(hidsim.Faults{Drop: 0.01, Reorder: 0.02, Corrupt: 0.005, DropEnd: true, Seed: 3})
	img, err := s.Capture(t.Context(), SlapRequest{Kind: LeftFour})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Gray.Pix, r.img.Pix) {
		t.Fatal("image differs after retries")
	}
	st := r.slap.Stats()
	t.Logf("scanner: %+v; driver: %+v", st, img.Stats)
	if st.Dropped == 0 || st.Reordered == 0 || st.Corrupted == 0 {
		t.Fatalf("faults not exercised: %+v", st)
	}
	if img.Stats.Rounds < 1 || st.ResendRequests == 0 {
		t.Fatalf("no resend round: %+v", img.Stats)
	}
	if img.Stats.OutOfOrder < st.Reordered/2 || img.Stats.Bad < st.Corrupted {
		t.Fatalf("driver saw %d out of order, %d bad; scanner reordered %d, corrupted %d", img.Stats.OutOfOrder, img.Stats.Bad, st.Reordered, st.Corrupted)
	}
	// the next capture on a clean link still works
	r.slap.SetFaults(hidsim.Faults{})
	if _, err := s.Capture(t.Context(), SlapRequest{Kind: TwoThumbs}); err != nil {
		t.Fatal(err)
	}
}

func TestSlapResendsFailGivesUp(t *testing.T) {
	r := newRig(t)
	s := openSlap(t, r)
	s.opts.MaxRetries = 2
	r.slap.SetFaults(hidsim.Faults{Drop: 1, OnResend: true, Seed: 9})
	_, err := s.Capture(t.Context(), SlapRequest{Kind: RightFour})
	if err == nil || !strings.Contains(err.Error(), "resend rounds") {
		t.Fatalf("want a transfer failure after the retries, got %v", err)
	}
}

func TestSlapNoFingersTimesOut(t *testing.T) {
	r := newRig(t)
	r.slap.Source = func(hidsim.Arm) (*image.Gray, error) { return nil, hidsim.ErrNoFingers }
	s := openSlap(t, r)
	_, err := s.Capture(t.Context(), SlapRequest{Kind: RightFour, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "no fingers placed") {
		t.Fatalf("want the scanner's timeout, got %v", err)
	}
}

func TestSlapCancel(t *testing.T) {
	r := newRig(t)
	r.slap.Source = func(hidsim.Arm) (*image.Gray, error) { return nil, hidsim.ErrNoFingers }
	s := openSlap(t, r)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := s.Capture(ctx, SlapRequest{Kind: RightFour, Timeout: time.Minute})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled capture returned %v", err)
	}
}

func TestPedalTriggersManualCapture(t *testing.T) {
	r := newRig(t)
	s := openSlap(t, r)
	po := DefaultPedalOptions()
	po.LinkOptions = virtualLink(SimProductPedal)
	p, err := OpenPedal(t.Context(), r.cfg("pedal1"), po, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// the session: arm for a manual capture; when the fingers are ready,
	// the officer steps on the pedal and the pedal event triggers it.
	ready := make(chan struct{})
	res := make(chan error, 1)
	go func() {
		img, err := s.Capture(t.Context(), SlapRequest{Kind: RightFour, Manual: true,
			OnPresence: func(pr Presence) {
				if pr.Ready {
					close(ready)
				}
			}})
		if err == nil && !bytes.Equal(img.Gray.Pix, r.img.Pix) {
			err = errors.New("wrong image")
		}
		res <- err
	}()
	<-ready
	for r.pedal.Connected() == 0 { // the open finishes before the simulator registers the connection
		time.Sleep(time.Millisecond)
	}
	r.pedal.Press()
	ev := <-p.Events()
	if !ev.Pressed {
		t.Fatalf("first event %+v, want a press", ev)
	}
	if err := s.Trigger(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	r.pedal.Release()
	if ev := <-p.Events(); ev.Pressed {
		t.Fatalf("second event %+v, want a release", ev)
	}
	// a lost report: the next one still gives the right edge, flagged
	r.pedal.DropNext(1)
	r.pedal.Press()   // lost
	r.pedal.Release() // state unchanged: no event
	r.pedal.Press()
	if ev := <-p.Events(); !ev.Pressed || !ev.Missed {
		t.Fatalf("after a lost report: %+v, want a press marked missed", ev)
	}
}

func TestLightPatterns(t *testing.T) {
	r := newRig(t)
	lo := DefaultLightOptions()
	lo.LinkOptions = virtualLink(SimProductLight)
	l, err := OpenLight(t.Context(), r.cfg("light1"), lo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, p := range []Pattern{PatternWait, PatternPlaceFingers, PatternDone, PatternTryAgain, PatternOff} {
		if err := l.Set(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		if got := r.light.State(); got.Pattern != uint8(p) || got.RGB != [3]uint8{patternLook[p][0], patternLook[p][1], patternLook[p][2]} {
			t.Fatalf("light shows %+v after Set(%v)", got, p)
		}
	}
	if err := l.Set(t.Context(), Pattern(9)); err == nil {
		t.Fatal("unknown pattern accepted")
	}
}

// TestRegistryHotplug: the registry sees the devices come, go when
// unplugged, and come back.
func TestRegistryHotplug(t *testing.T) {
	r := newRig(t)
	reg := devices.NewRegistry(devices.Options{RetryMin: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	defer reg.Close()
	sub := reg.Subscribe(0)
	for _, c := range []struct {
		id, driver string
		opts       any
	}{
		{"slap", SlapDriverName, &SlapOptions{LinkOptions: virtualLink(SimProductSlap), PlaceTimeout: Duration{Duration: time.Second}, BlockTimeout: Duration{Duration: time.Second}, MaxRetries: 2}},
		{"pedal", PedalDriverName, &PedalOptions{LinkOptions: virtualLink(SimProductPedal), QueueLen: 4}},
		{"light", LightDriverName, &LightOptions{LinkOptions: virtualLink(SimProductLight)}},
	} {
		if err := reg.Open(devices.Config{ID: c.id, Driver: c.driver, Port: r.hub.Dir(), Options: c.opts}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []devices.Event // events not yet waited for, in order
	waitFor := func(id string, typ devices.EventType) devices.Event {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		for {
			for i, ev := range seen {
				if ev.Device.ID == id && ev.Type == typ {
					seen = append(seen[:i:i], seen[i+1:]...)
					return ev
				}
			}
			ev, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for %s %s: %v", id, typ, err)
			}
			seen = append(seen, ev)
		}
	}
	ev := waitFor("slap", devices.EventAdded)
	if ev.Device.Kind != devices.KindSlap || ev.Device.Serial != "S1" || ev.Device.Firmware == "" {
		t.Fatalf("added: %+v", ev.Device)
	}
	waitFor("pedal", devices.EventAdded)
	waitFor("light", devices.EventAdded)
	if err := r.hub.Unplug("slap"); err != nil {
		t.Fatal(err)
	}
	waitFor("slap", devices.EventRemoved)
	if _, ok := reg.Get("slap"); ok {
		t.Fatal("unplugged scanner still present")
	}
	if err := r.hub.Plug("slap", r.slap); err != nil {
		t.Fatal(err)
	}
	waitFor("slap", devices.EventAdded)
	d, ok := reg.Get("slap")
	if !ok {
		t.Fatal("replugged scanner absent")
	}
	img, err := d.(*Slap).Capture(t.Context(), SlapRequest{Kind: TwoThumbs})
	if err != nil || !bytes.Equal(img.Gray.Pix, r.img.Pix) {
		t.Fatalf("capture after replug: %v", err)
	}
	// unplug mid-capture fails the capture promptly with ErrGone
	r.slap.Source = func(hidsim.Arm) (*image.Gray, error) { return nil, hidsim.ErrNoFingers }
	res := make(chan error, 1)
	go func() {
		_, err := d.(*Slap).Capture(t.Context(), SlapRequest{Kind: RightFour, Timeout: time.Minute})
		res <- err
	}()
	seen = nil
	for ev := waitFor("slap", devices.EventState); ev.State != devices.StateBusy; ev = waitFor("slap", devices.EventState) {
	}
	r.hub.Unplug("slap")
	if err := <-res; !errors.Is(err, ErrGone) {
		t.Fatalf("capture during unplug: %v, want ErrGone", err)
	}
	if d, ok := reg.Get("pedal"); ok {
		d.Close()
	}
}

// TestUSBEnumerate builds and runs the karalabe/hid transport: on this
// machine no HID device is a valid answer, an error is not.
func TestUSBEnumerate(t *testing.T) {
	if !USBSupported() {
		t.Skip("karalabe/hid reports this build unsupported (no cgo)")
	}
	list, err := USBTransport{}.Enumerate(Filter{})
	if err != nil {
		t.Fatalf("USB enumerate: %v", err)
	}
	t.Logf("%d USB HID interfaces", len(list))
	_, err = findOne(USBTransport{}, Filter{VendorID: SimVendorID, ProductID: SimProductSlap, Serial: "no-such-serial"}, "slap scanner")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound for an absent device, got %v", err)
	}
}

// TestSlapCancelMidTransfer: a capture cancelled while the image streams
// in leaves the driver able to capture again (stale blocks are dropped).
func TestSlapCancelMidTransfer(t *testing.T) {
	r := newRig(t)
	r.img = testImage(800, 600, 4)
	s := openSlap(t, r)
	ctx, cancel := context.WithCancel(t.Context())
	_, err := s.Capture(ctx, SlapRequest{Kind: RightFour, OnPresence: func(p Presence) {
		if p.Ready {
			cancel() // the image follows at once
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled capture: %v", err)
	}
	r.img = testImage(400, 300, 5)
	img, err := s.Capture(t.Context(), SlapRequest{Kind: LeftFour})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Gray.Pix, r.img.Pix) {
		t.Fatal("second capture returned the wrong image")
	}
}
