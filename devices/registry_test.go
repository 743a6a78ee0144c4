package devices

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// plug is a test device family whose presence the test switches, standing
// in for a port that appears and disappears.
type plug struct {
	mu      sync.Mutex
	present map[string]bool
	open    map[string]*plugDev
	opens   atomic.Int32
}

type plugDev struct {
	info   Info
	rep    Reporter
	closed atomic.Bool
}

func (d *plugDev) Info() Info   { return d.info }
func (d *plugDev) Close() error { d.closed.Store(true); return nil }

var plugs = &plug{present: map[string]bool{}, open: map[string]*plugDev{}}

func init() {
	Register(Driver{Name: "plug", Kind: KindPedal, Open: func(ctx context.Context, cfg Config, rep Reporter) (Device, error) {
		plugs.mu.Lock()
		defer plugs.mu.Unlock()
		if !plugs.present[cfg.Port] {
			return nil, fmt.Errorf("%s: no such device", cfg.Port)
		}
		plugs.opens.Add(1)
		d := &plugDev{info: Info{Vendor: "test", Model: "plug", Serial: cfg.Port, Firmware: "1.0"}, rep: rep}
		plugs.open[cfg.Port] = d
		return d, nil
	}})
}

func setPresent(port string, on bool) {
	plugs.mu.Lock()
	plugs.present[port] = on
	d := plugs.open[port]
	if !on {
		delete(plugs.open, port)
	}
	plugs.mu.Unlock()
	if !on && d != nil {
		d.rep.SetState(StateAbsent, "unplugged")
	}
}

var portSeq atomic.Int64

// uniquePort names a port no earlier run in this process has used, so that
// -count=N starts each run with the port unplugged.
func uniquePort(t *testing.T) string {
	return fmt.Sprintf("%s#%d", t.Name(), portSeq.Add(1))
}

func fastRegistry() *Registry {
	return NewRegistry(Options{RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, OpenTimeout: time.Second})
}

// next waits for the next event of the wanted type, failing after a generous
// safety timeout (a hang, not a speed assertion).
func next(t *testing.T, s *Subscription, want EventType) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if ev.Type == want {
			return ev
		}
	}
}

func TestAddedRemovedReadded(t *testing.T) {
	r := fastRegistry()
	defer r.Close()
	sub := r.Subscribe(0)
	port := uniquePort(t)
	if err := r.Open(Config{ID: "pedal", Driver: "plug", Port: port}); err != nil {
		t.Fatal(err)
	}
	ev := next(t, sub, EventState)
	if ev.State != StateAbsent || ev.Detail == "" {
		t.Fatalf("absent device should report why: %+v", ev)
	}
	if _, ok := r.Get("pedal"); ok {
		t.Fatal("absent device returned by Get")
	}
	setPresent(port, true)
	ev = next(t, sub, EventAdded)
	if ev.Device.ID != "pedal" || ev.State != StateReady || ev.Device.Serial != port || ev.Device.Driver != "plug" {
		t.Fatalf("added event: %+v", ev)
	}
	dev, ok := r.Get("pedal")
	if !ok {
		t.Fatal("present device not returned by Get")
	}
	dev.(*plugDev).rep.SetState(StateBusy, "capturing")
	if ev = next(t, sub, EventState); ev.State != StateBusy || ev.Detail != "capturing" {
		t.Fatalf("state event: %+v", ev)
	}
	setPresent(port, false)
	if ev = next(t, sub, EventRemoved); ev.State != StateAbsent {
		t.Fatalf("removed event: %+v", ev)
	}
	if !dev.(*plugDev).closed.Load() {
		t.Fatal("lost device was not closed")
	}
	// A report from the old device after it was removed is ignored.
	dev.(*plugDev).rep.SetState(StateError, "stale")
	setPresent(port, true)
	ev = next(t, sub, EventAdded)
	if ev.State != StateReady {
		t.Fatalf("re-added: %+v", ev)
	}
	snap := r.Snapshot()
	if len(snap) != 1 || snap[0].State != StateReady || snap[0].Info.ID != "pedal" {
		t.Fatalf("snapshot: %+v", snap)
	}
}

func TestOpenErrors(t *testing.T) {
	r := fastRegistry()
	defer r.Close()
	if err := r.Open(Config{ID: "x", Driver: "no-such-driver"}); err == nil {
		t.Fatal("unknown driver accepted")
	}
	if err := r.Open(Config{ID: "x", Driver: "plug", Port: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Open(Config{ID: "x", Driver: "plug", Port: "q"}); err == nil {
		t.Fatal("duplicate id accepted")
	}
}

// Many subscribers all get every event, in order, while one subscriber
// that never reads loses only its own oldest events.
func TestManySubscribersOneStalled(t *testing.T) {
	r := fastRegistry()
	const subscribers, devices = 20, 50
	stalled := r.Subscribe(4)
	var subs []*Subscription
	for range subscribers {
		subs = append(subs, r.Subscribe(4*devices))
	}
	var wg sync.WaitGroup
	got := make([][]Event, subscribers)
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for len(got[i]) < devices {
				ev, err := s.Next(ctx)
				if err != nil {
					return
				}
				if ev.Type == EventAdded {
					got[i] = append(got[i], ev)
				}
			}
		}()
	}
	for i := range devices {
		port := fmt.Sprintf("%s-%d", uniquePort(t), i)
		setPresent(port, true)
		if err := r.Open(Config{ID: fmt.Sprintf("d%d", i), Driver: "plug", Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != devices {
			t.Fatalf("subscriber %d got %d of %d added events", i, len(got[i]), devices)
		}
		for j := 1; j < len(got[i]); j++ {
			if got[i][j].Seq <= got[i][j-1].Seq {
				t.Fatalf("subscriber %d: events out of order", i)
			}
		}
	}
	if stalled.Dropped() == 0 {
		t.Fatal("stalled subscriber should have dropped events")
	}
	// The stalled subscriber keeps the newest events and is told what it missed.
	ev, err := stalled.Next(context.Background())
	if err != nil || ev.Missed == 0 {
		t.Fatalf("first event after overflow should carry Missed: %+v %v", ev, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// After close, subscriptions drain and then report ErrClosed.
	for {
		if _, err := subs[0].Next(context.Background()); err != nil {
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("want ErrClosed, got %v", err)
			}
			break
		}
	}
}

func TestCloseClosesDevicesAndWakesSubscribers(t *testing.T) {
	r := fastRegistry()
	port := uniquePort(t)
	setPresent(port, true)
	sub := r.Subscribe(0)
	if err := r.Open(Config{ID: "a", Driver: "plug", Port: port}); err != nil {
		t.Fatal(err)
	}
	next(t, sub, EventAdded)
	dev, _ := r.Get("a")
	done := make(chan error, 1)
	idle := r.Subscribe(0)
	go func() {
		for {
			if _, err := idle.Next(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !dev.(*plugDev).closed.Load() {
		t.Fatal("device not closed by registry Close")
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Next: %v", err)
	}
	if err := r.Open(Config{ID: "b", Driver: "plug"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open after Close: %v", err)
	}
}

type found struct {
	id     string
	closed atomic.Bool
}

func (f *found) Info() Info   { return Info{ID: f.id, Kind: KindCardReader, Driver: "pcsc"} }
func (f *found) Close() error { f.closed.Store(true); return nil }

func TestAttachDetach(t *testing.T) {
	r := fastRegistry()
	defer r.Close()
	sub := r.Subscribe(0)
	f := &found{id: "reader-1"}
	rep, err := r.Attach(f)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, sub, EventAdded); ev.Device.ID != "reader-1" {
		t.Fatalf("%+v", ev)
	}
	if _, err := r.Attach(f); err == nil {
		t.Fatal("second Attach of the same id accepted")
	}
	rep.SetState(StateBusy, "reading card")
	next(t, sub, EventState)
	rep.SetState(StateAbsent, "reader unplugged")
	next(t, sub, EventRemoved)
	if len(r.Snapshot()) != 0 {
		t.Fatal("gone discovered device still listed")
	}
	g := &found{id: "reader-2"}
	if _, err := r.Attach(g); err != nil {
		t.Fatal(err)
	}
	r.Detach("reader-2")
	next(t, sub, EventRemoved)
	if !g.closed.Load() {
		t.Fatal("Detach did not close")
	}
}

func TestStateText(t *testing.T) {
	for s := StateAbsent; s <= StateNeedsCalibration; s++ {
		b, _ := s.MarshalText()
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%v round trip: %v %v", s, back, err)
		}
	}
	var x State
	if x.UnmarshalText([]byte("sleepy")) == nil {
		t.Fatal("unknown state accepted")
	}
}

// selfReporting closes by waiting for a goroutine that reports a state
// change, as drivers with a watcher goroutine do: Close must not hold the
// registry's lock while it waits.
type selfReporting struct {
	rep  Reporter
	stop chan struct{}
	done chan struct{}
}

func (d *selfReporting) Info() Info { return Info{Model: "watcher"} }
func (d *selfReporting) Close() error {
	close(d.stop)
	<-d.done
	return nil
}

func init() {
	Register(Driver{Name: "self-reporting", Kind: KindCardReader, Open: func(ctx context.Context, cfg Config, rep Reporter) (Device, error) {
		d := &selfReporting{rep: rep, stop: make(chan struct{}), done: make(chan struct{})}
		go func() {
			defer close(d.done)
			<-d.stop
			d.rep.SetState(StateReady, "card removed") // reported while closing
		}()
		return d, nil
	}})
}

func TestCloseDoesNotDeadlockWithReportingDriver(t *testing.T) {
	r := fastRegistry()
	sub := r.Subscribe(0)
	if err := r.Open(Config{ID: "reader", Driver: "self-reporting"}); err != nil {
		t.Fatal(err)
	}
	next(t, sub, EventAdded)
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Registry.Close deadlocked with a driver reporting from its Close")
	}
}

// reportsWhileOpening is a driver that tells its state from inside Open
// (as the PC/SC reader says "no card" while it opens), then takes a moment
// before Open returns; with fail set, Open then fails.
type reportsWhileOpening struct{ fail atomic.Bool }

var whileOpening = &reportsWhileOpening{}

func init() {
	Register(Driver{Name: "reports-while-opening", Kind: KindCardReader, Open: func(ctx context.Context, cfg Config, rep Reporter) (Device, error) {
		rep.SetState(StateReady, "no card")
		time.Sleep(20 * time.Millisecond)
		if whileOpening.fail.Load() {
			return nil, fmt.Errorf("reader vanished while opening")
		}
		return &plugDev{info: Info{Model: "early reporter"}}, nil
	}})
}

// openEarlyReporter configures a reports-while-opening device "reader" on a
// new registry, with a subscription from before; both end with the test.
func openEarlyReporter(t *testing.T) (*Registry, *Subscription) {
	r := fastRegistry()
	sub := r.Subscribe(0)
	t.Cleanup(func() { sub.Close(); r.Close() })
	if err := r.Open(Config{ID: "reader", Driver: "reports-while-opening"}); err != nil {
		t.Fatal(err)
	}
	return r, sub
}

// A device announced ready is one Get finds: a state reported from inside
// Open comes out with EventAdded, not before it.
func TestReadyMeansGettable(t *testing.T) {
	r, sub := openEarlyReporter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev.State != StateReady {
			continue
		}
		if _, ok := r.Get("reader"); !ok {
			t.Fatalf("%s event says ready (%q) but Get finds no device", ev.Type, ev.Detail)
		}
		if ev.Type != EventAdded || ev.Detail != "no card" {
			t.Fatalf("first ready event %+v, want added with the detail reported while opening", ev)
		}
		return
	}
}

// An Open that reports a state and then fails leaves the device absent,
// every time.
func TestFailedOpenStaysAbsent(t *testing.T) {
	whileOpening.fail.Store(true)
	defer whileOpening.fail.Store(false)
	r, sub := openEarlyReporter(t)
	ev := next(t, sub, EventState)
	if ev.State != StateAbsent {
		t.Fatalf("first event %+v, want absent", ev)
	}
	// Several failed retries later, still absent and never announced ready.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		for _, st := range r.Snapshot() {
			if st.Info.ID == "reader" && st.State != StateAbsent {
				t.Fatalf("after failed opens: %+v", st)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			break
		}
		if ev.State == StateReady {
			t.Fatalf("announced %+v for a device that never opened", ev)
		}
	}
}
