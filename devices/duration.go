package devices

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in configuration files as a Go
// duration string ("250ms", "2s"). Drivers' options and the station's
// configuration share it, so every duration reads and fails alike.
type Duration struct{ time.Duration }

// UnmarshalText parses a duration such as "1.5s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (use a number with a unit, like \"500ms\" or \"2s\"): %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
