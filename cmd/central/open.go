package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/openenroll/stationd/station/packet"
	"github.com/openenroll/stationd/station/uplink"
)

// packetOpener returns the Accept hook that opens each packet before it is
// stored: decrypt with central's HPKE key, verify the station's signature
// and every record, and write the records as standard files other tools
// open (transaction.an2, fingers.fir, face.fac), with the manifest.
//
// A packet that fails to open is refused for good (uplink.ErrRejected): it
// would fail the same way again, and the station sets it aside for a
// technician rather than resending it forever.
func packetOpener(keys *packet.CentralKeys, trusted *packet.TrustedStations) uplink.AcceptFunc {
	return func(ctx context.Context, a uplink.Accepted) error {
		c, err := packet.Open(a.Data, keys, trusted)
		if err != nil {
			return fmt.Errorf("%w: %v", uplink.ErrRejected, err)
		}
		if c.Manifest.StationID != a.Station {
			return fmt.Errorf("%w: packet signed for station %q but uploaded by %q", uplink.ErrRejected, c.Manifest.StationID, a.Station)
		}
		for _, it := range c.Items {
			// Item names are the packet format's fixed names; never trust
			// them as paths all the same.
			if filepath.Base(it.Name) != it.Name || strings.HasPrefix(it.Name, ".") {
				return fmt.Errorf("%w: item name %q", uplink.ErrRejected, it.Name)
			}
			if err := os.WriteFile(filepath.Join(a.Dir, it.Name), it.Data, 0o600); err != nil {
				return err // a local problem: the station retries later
			}
		}
		m, err := json.MarshalIndent(c.Manifest, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(a.Dir, "manifest.json"), m, 0o600)
	}
}

// loadOpener builds the opener from central's HPKE key files and the
// directory of trusted station keys (<station-id>.pub).
func loadOpener(hpkeKeys string, stationsDir string) (uplink.AcceptFunc, error) {
	keys, err := packet.LoadCentralKeys(strings.Split(hpkeKeys, ",")...)
	if err != nil {
		return nil, err
	}
	pubs, err := filepath.Glob(filepath.Join(stationsDir, "*.pub"))
	if err != nil {
		return nil, err
	}
	if len(pubs) == 0 {
		return nil, fmt.Errorf("no station keys (*.pub) in %s: no packet could be verified", stationsDir)
	}
	trusted, err := packet.LoadTrustedStations(pubs...)
	if err != nil {
		return nil, err
	}
	return packetOpener(keys, trusted), nil
}
