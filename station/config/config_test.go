package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
)

// testOpts is the options struct of a driver registered only for these tests.
type testOpts struct {
	Baud     int      `toml:"baud"`
	Interval Duration `toml:"interval"`
}

func (o *testOpts) Validate() error {
	if o.Baud != 9600 && o.Baud != 57600 {
		return &FieldError{Key: "baud", Msg: "use 9600 or 57600"}
	}
	return nil
}

func init() {
	devices.Register(devices.Driver{
		Name: "config-test", Kind: devices.KindFingerprint,
		NewOptions: func() any { return &testOpts{Baud: 57600, Interval: Duration{Duration: time.Second}} },
		Open: func(context.Context, devices.Config, devices.Reporter) (devices.Device, error) {
			return nil, errors.New("not a real device")
		},
	})
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Listen != Default().HTTP.Listen || cfg.Log.Format != "text" {
		t.Fatalf("defaults not kept: %+v", cfg)
	}
}

func TestParseFull(t *testing.T) {
	doc := `
[station]
id = "booth-7"
data_dir = "/var/lib/stationd"

[http]
listen = "127.0.0.1:9000"

[log]
format = "json"

[[device]]
id = "left"
driver = "config-test"
port = "/dev/ttyUSB0"

[[device]]
id = "right"
driver = "config-test"
[device.options]
baud = 9600
interval = "250ms"
`
	cfg, err := Parse("full.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Station.ID != "booth-7" || cfg.HTTP.Listen != "127.0.0.1:9000" || cfg.Log.Format != "json" {
		t.Fatalf("wrong values: %+v", cfg)
	}
	if len(cfg.Devices) != 2 {
		t.Fatalf("devices: %d", len(cfg.Devices))
	}
	left := cfg.Devices[0].Decoded.(*testOpts)
	right := cfg.Devices[1].Decoded.(*testOpts)
	if left.Baud != 57600 || left.Interval.Duration != time.Second {
		t.Errorf("left should keep driver defaults, got %+v", left)
	}
	if right.Baud != 9600 || right.Interval.Duration != 250*time.Millisecond {
		t.Errorf("right options not decoded: %+v", right)
	}
	if dc := cfg.Devices[0].DeviceConfig(); dc.Port != "/dev/ttyUSB0" || dc.Options != left {
		t.Errorf("DeviceConfig: %+v", dc)
	}
}

// Each bad document must fail with the file, the line and the key.
func TestErrorsNameFileLineKey(t *testing.T) {
	cases := []struct {
		name, doc string
		line      int
		key       string
		msg       string
	}{
		{"unknown top-level key", "[station]\nid = \"a\"\ncolour = \"red\"\n", 3, "station.colour", "unknown key"},
		{"unknown section", "\n[stations]\nid = \"a\"\n", 2, "stations", "unknown key"},
		{"wrong type", "[http]\n\nlisten = 8080\n", 3, "http.listen", "wrong type: a TOML integer where a string is expected"},
		{"bad duration", "[registry]\nretry_min = \"soon\"\n", 2, "registry.retry_min", "not a duration"},
		{"not loopback", "[http]\nlisten = \"0.0.0.0:80\"\n", 2, "http.listen", "loopback"},
		{"bad log format", "[log]\nformat = \"xml\"\n", 2, "log.format", "text"},
		{"unknown driver", "[[device]]\nid = \"a\"\ndriver = \"nope\"\n", 3, "device[0].driver", "unknown driver"},
		{"unknown option", "[[device]]\nid = \"a\"\ndriver = \"config-test\"\n[[device]]\nid = \"b\"\ndriver = \"config-test\"\n[device.options]\nbaud = 9600\nparity = \"odd\"\n", 9, "device[1].options.parity", "unknown key"},
		{"option wrong type", "[[device]]\nid = \"a\"\ndriver = \"config-test\"\noptions.baud = \"fast\"\n", 4, "device[0].options.baud", ""},
		{"option invalid", "[[device]]\nid = \"a\"\ndriver = \"config-test\"\n\n[device.options]\nbaud = 1200\n", 6, "device[0].options.baud", "9600"},
		{"duplicate id", "[[device]]\nid = \"a\"\ndriver = \"config-test\"\n[[device]]\nid = \"a\"\ndriver = \"config-test\"\n", 5, "device[1].id", "twice"},
		{"finger twice", "[session]\nfinger_order = [2, 3, 2]\n", 2, "session.finger_order", "twice"},
		{"bad threshold key", "[session]\n[session.thresholds]\n11 = 50\n", 2, "session.thresholds", "out of range"},
		{"bad compression", "[packet]\nfinger_compression = \"JPEG\"\n", 2, "packet.finger_compression", "WSQ20"},
		{"bad wsq allocation", "[packet]\nwsq_allocation = \"best\"\n", 2, "packet.wsq_allocation", "mse"},
		{"uplink without keys", "[uplink]\nurl = \"wss://central.example/uplink\"\n", 1, "uplink.central_keys", "receipt"},
		{"uplink bad url", "[uplink]\nurl = \"http://x\"\ncentral_keys = [\"k\"]\n", 2, "uplink.url", "ws://"},
		{"retry order", "[registry]\nretry_min = \"2s\"\nretry_max = \"1s\"\n", 3, "registry.retry_max", "retry_min"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("booth.toml", []byte(c.doc))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %T %v", err, err)
			}
			if ce.File != "booth.toml" || ce.Line != c.line || ce.Key != c.key {
				t.Errorf("got file %q line %d key %q, want line %d key %q (%v)", ce.File, ce.Line, ce.Key, c.line, c.key, err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q does not mention %q", err, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "booth.toml:") {
				t.Errorf("message %q does not start with the file", err)
			}
		})
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("s.toml", []byte("[station]\nid = \"a\"\nbroken = \n"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 3 {
		t.Fatalf("want error on line 3, got %v", err)
	}
}

// The example file documents every key; it must load as it is.
func TestExampleFileLoads(t *testing.T) {
	path := filepath.Join("..", "..", "stationd.example.toml")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("example configuration missing: %v", err)
	}
	if _, err := Load(path); err != nil {
		t.Fatalf("example configuration does not load: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[station]\nid = \"a\"\n"))
	f.Add([]byte("[[device]]\nid = \"a\"\ndriver = \"config-test\"\n[device.options]\nbaud = 9600\n"))
	f.Add([]byte("[[device]]\n[[device]]\n[device.options.x]\ny=1\n"))
	f.Add([]byte("a.b.c = {d = [1, {e = 2}]}\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		cfg, err := Parse("fuzz.toml", doc)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.toml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
