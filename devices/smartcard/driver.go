package smartcard

import (
	"context"
	"fmt"
	"sync"

	"github.com/openenroll/stationd/devices"
)

// Options of the "pcsc" driver, from the device's [device.options] table.
type Options struct {
	// Reader picks the PC/SC reader whose name contains this text
	// (case-insensitive); empty takes the first reader.
	Reader string `toml:"reader"`
}

// The driver binds one configured device to one PC/SC reader. Readers are
// configured (rather than attached as they are discovered) because a booth
// has a known reader at a known place, and the registry then re-opens it
// when it is replugged. Card insertion and removal are reported as state
// details of the reader device ("card present" / "no card").
func init() {
	devices.Register(devices.Driver{
		Name:       "pcsc",
		Kind:       devices.KindCardReader,
		NewOptions: func() any { return &Options{} },
		Open:       openReader,
	})
}

// Detail strings reported with StateReady.
const (
	DetailCardPresent = "card present"
	DetailNoCard      = "no card"
)

// Reader is an open PC/SC reader device.
type Reader struct {
	info   devices.Info
	name   string
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	card bool
}

func openReader(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
	opts, _ := cfg.Options.(*Options)
	if opts == nil {
		opts = &Options{}
	}
	readers, err := ListReaders()
	if err != nil {
		return nil, fmt.Errorf("device %q: %w", cfg.ID, err)
	}
	name, ok := MatchReader(readers, opts.Reader)
	if !ok {
		return nil, fmt.Errorf("device %q: no PC/SC reader matching %q (readers: %q); plug the reader in", cfg.ID, opts.Reader, readers)
	}
	wctx, cancel := context.WithCancel(context.Background())
	r := &Reader{
		info:   devices.Info{ID: cfg.ID, Kind: devices.KindCardReader, Driver: "pcsc", Model: name, Port: name},
		name:   name,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go r.watch(wctx, rep)
	return r, nil
}

func (r *Reader) watch(ctx context.Context, rep devices.Reporter) {
	defer close(r.done)
	rep.SetState(devices.StateReady, DetailNoCard)
	err := Watch(ctx, func(e Event) {
		if e.Reader != r.name {
			return
		}
		switch e.Kind {
		case CardInserted:
			r.setCard(true)
			rep.SetState(devices.StateReady, DetailCardPresent)
		case CardRemoved:
			r.setCard(false)
			rep.SetState(devices.StateReady, DetailNoCard)
		case ReaderRemoved:
			rep.SetState(devices.StateAbsent, "reader unplugged")
		}
	})
	if ctx.Err() == nil {
		rep.SetState(devices.StateAbsent, fmt.Sprintf("reader monitor stopped: %v", err))
	}
}

func (r *Reader) setCard(v bool) {
	r.mu.Lock()
	r.card = v
	r.mu.Unlock()
}

// CardPresent reports whether the monitor last saw a card in the reader.
func (r *Reader) CardPresent() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.card
}

// Info returns the reader's identity.
func (r *Reader) Info() devices.Info { return r.info }

// Name is the PC/SC reader name.
func (r *Reader) Name() string { return r.name }

// Connect waits (bounded by ctx) for a card and connects to it.
func (r *Reader) Connect(ctx context.Context) (*Card, error) {
	c, err := Connect(ctx, r.name)
	if err != nil {
		return nil, fmt.Errorf("device %q: %w", r.info.ID, err)
	}
	return c, nil
}

// Close stops the monitor promptly (SCardCancel) and waits for it. A
// discovered reader has no monitor of its own (Discover watches them all).
func (r *Reader) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	return nil
}
