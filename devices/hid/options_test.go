package hid

import (
	"bytes"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/pelletier/go-toml/v2"
)

// TestOptionsTOML: the options decode from a configuration's device table,
// strictly, as the station's config loader does.
func TestOptionsTOML(t *testing.T) {
	o := DefaultSlapOptions()
	src := `
transport = "virtual"
socket_dir = "/run/hidsim"
vendor_id = 0x1209
product_id = 0x5A01
serial = "S1"
command_timeout = "3s"
place_timeout = "20s"
block_timeout = "500ms"
max_retries = 6
`
	dec := toml.NewDecoder(bytes.NewBufferString(src))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	if o.Transport != "virtual" || o.SocketDir != "/run/hidsim" || o.VendorID != 0x1209 || o.Serial != "S1" ||
		o.CommandTimeout.Duration != 3*time.Second || o.PlaceTimeout.Duration != 20*time.Second ||
		o.BlockTimeout.Duration != 500*time.Millisecond || o.MaxRetries != 6 {
		t.Fatalf("decoded %+v", o)
	}
	p := DefaultPedalOptions()
	dec = toml.NewDecoder(bytes.NewBufferString("transport = \"usb\"\nqueue_len = 4\nbogus = 1\n"))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err == nil {
		t.Fatal("unknown key accepted")
	}
	if _, err := (LinkOptions{Transport: "bluetooth"}).transport(devConfig("x")); err == nil {
		t.Fatal("unknown transport accepted")
	}
}

func devConfig(id string) devices.Config { return devices.Config{ID: id} }
