package smartcard_test

import (
	"context"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/smartcard"
	"github.com/openenroll/stationd/firmware-sim/card"
	"github.com/openenroll/stationd/internal/pcscdtest"
)

func TestWatchReportsReaderAndCard(t *testing.T) {
	name := vpcdReader(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := make(chan smartcard.Event, 256)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- smartcard.Watch(wctx, func(e smartcard.Event) {
			select {
			case events <- e:
			default:
				t.Error("event queue full")
			}
		})
	}()
	next := func(want smartcard.EventKind) smartcard.Event {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.Reader == name && e.Kind == want {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %v event", want)
			}
		}
	}
	next(smartcard.ReaderAdded)
	c := card.New()
	if err := c.Insert(ctx, pcscdtest.VPCDAddr); err != nil {
		t.Fatal(err)
	}
	if e := next(smartcard.CardInserted); string(e.ATR) != string(card.ATR) {
		t.Fatalf("ATR % X, want % X", e.ATR, card.ATR)
	}
	c.Remove()
	next(smartcard.CardRemoved)
	// Cancel must interrupt the blocking PC/SC wait at once.
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestPCSCDriverInRegistry(t *testing.T) {
	vpcdReader(t)
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	sub := reg.Subscribe(0)
	drv, _ := devices.Lookup("pcsc")
	opts := drv.NewOptions().(*smartcard.Options)
	opts.Reader = "virtual pcd"
	if err := reg.Open(devices.Config{ID: "card1", Driver: "pcsc", Options: opts}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wait := func(detail string) {
		t.Helper()
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for %q: %v", detail, err)
			}
			if ev.Device.ID == "card1" && ev.State == devices.StateReady && ev.Detail == detail {
				return
			}
		}
	}
	wait(smartcard.DetailNoCard)
	c := card.New()
	if err := c.Insert(ctx, pcscdtest.VPCDAddr); err != nil {
		t.Fatal(err)
	}
	wait(smartcard.DetailCardPresent)
	dev, ok := reg.Get("card1")
	if !ok {
		t.Fatal("device not in registry")
	}
	r := dev.(*smartcard.Reader)
	sc, err := r.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
	c.Remove()
	wait(smartcard.DetailNoCard)
}

func TestDriverOpenFailsFastWithoutReader(t *testing.T) {
	vpcdReader(t)
	drv, _ := devices.Lookup("pcsc")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := drv.Open(ctx, devices.Config{ID: "x", Driver: "pcsc", Options: &smartcard.Options{Reader: "no such reader"}}, nopReporter{})
	if err == nil {
		t.Fatal("opened a reader that does not exist")
	}
}

type nopReporter struct{}

func (nopReporter) SetState(devices.State, string) {}

func TestDiscoverAttachesReaders(t *testing.T) {
	name := vpcdReader(t)
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	sub := reg.Subscribe(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- smartcard.Discover(dctx, reg) }()
	id := smartcard.DiscoveredPrefix + name
	wait := func(typ devices.EventType, detail string) {
		t.Helper()
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("waiting for %s %q: %v", typ, detail, err)
			}
			if ev.Device.ID == id && ev.Type == typ && (detail == "" || ev.Detail == detail) {
				return
			}
		}
	}
	wait(devices.EventAdded, "")
	c := card.New()
	if err := c.Insert(ctx, pcscdtest.VPCDAddr); err != nil {
		t.Fatal(err)
	}
	wait(devices.EventState, smartcard.DetailCardPresent)
	if dev, ok := reg.Get(id); !ok || !dev.(*smartcard.Reader).CardPresent() {
		t.Fatal("discovered reader missing or without card")
	}
	c.Remove()
	wait(devices.EventState, smartcard.DetailNoCard)
	stop()
	<-done
	wait(devices.EventRemoved, "")
}
