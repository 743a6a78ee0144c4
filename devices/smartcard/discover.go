package smartcard

import (
	"context"

	"github.com/openenroll/stationd/devices"
)

// DiscoveredPrefix starts the registry ID of a reader found by Discover.
const DiscoveredPrefix = "pcsc:"

// Discover attaches every PC/SC reader to the registry as it appears
// (ID "pcsc:" + reader name, kind smartcard, driver "pcsc"), reports card
// insertion and removal as its state detail, and detaches it when it is
// unplugged. It runs until ctx ends, then detaches what it attached. Use
// it for stations that take whatever reader is plugged in; configured
// "pcsc" devices are the alternative when the booth names its reader.
func Discover(ctx context.Context, reg *devices.Registry) error {
	reps := map[string]devices.Reporter{}
	defer func() {
		for name := range reps {
			reg.Detach(DiscoveredPrefix + name)
		}
	}()
	return Watch(ctx, func(e Event) {
		id := DiscoveredPrefix + e.Reader
		switch e.Kind {
		case ReaderAdded:
			r := &Reader{name: e.Reader, info: devices.Info{ID: id, Kind: devices.KindCardReader, Driver: "pcsc", Model: e.Reader, Port: e.Reader}}
			rep, err := reg.Attach(r)
			if err != nil {
				return // already attached (configured under the same ID) or registry closed
			}
			reps[e.Reader] = rep
			rep.SetState(devices.StateReady, DetailNoCard)
		case ReaderRemoved:
			if _, ok := reps[e.Reader]; ok {
				delete(reps, e.Reader)
				reg.Detach(id)
			}
		case CardInserted, CardRemoved:
			rep, ok := reps[e.Reader]
			if !ok {
				return
			}
			r, _ := reg.Get(id)
			if rd, ok := r.(*Reader); ok {
				rd.setCard(e.Kind == CardInserted)
			}
			if e.Kind == CardInserted {
				rep.SetState(devices.StateReady, DetailCardPresent)
			} else {
				rep.SetState(devices.StateReady, DetailNoCard)
			}
		}
	})
}
