package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/api"
)

type nullDev struct{}

func (nullDev) Info() devices.Info {
	return devices.Info{Vendor: "ACME", Model: "M1", Serial: "S-42", Firmware: "2.1"}
}
func (nullDev) Close() error { return nil }

func init() {
	devices.Register(devices.Driver{Name: "stationctl-test", Kind: devices.KindLight,
		Open: func(ctx context.Context, cfg devices.Config, rep devices.Reporter) (devices.Device, error) {
			if cfg.Port == "missing" {
				return nil, errors.New("no such port")
			}
			return nullDev{}, nil
		}})
}

func TestDevicesCommand(t *testing.T) {
	reg := devices.NewRegistry(devices.Options{})
	defer reg.Close()
	sub := reg.Subscribe(0)
	reg.Open(devices.Config{ID: "lamp", Driver: "stationctl-test", Port: "/dev/hidraw3"})
	reg.Open(devices.Config{ID: "gone", Driver: "stationctl-test", Port: "missing"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for seen := 0; seen < 2; {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatal(err)
		}
		seen++
	}
	srv := api.New(api.Options{Registry: reg})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	var out strings.Builder
	var errOut strings.Builder
	if code := run([]string{"devices", "-addr", strings.TrimPrefix(hs.URL, "http://")}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := out.String()
	for _, want := range []string{"lamp", "ready", "ACME M1", "S-42", "/dev/hidraw3", "gone", "absent", "no such port"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestDevicesCommandNoStation(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"devices", "-addr", "127.0.0.1:1"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "cannot reach stationd") {
		t.Fatalf("exit %d: %q", code, errOut.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("exit %d: %q", code, errOut.String())
	}
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "stationctl") {
		t.Fatalf("version: %d %q", code, out.String())
	}
}
