package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/station/buildinfo"
)

// defaultAddr is where stationd listens unless configured otherwise.
const defaultAddr = "127.0.0.1:8787"

func init() {
	register(command{name: "devices", summary: "list a running stationd's devices and their states", run: runDevices})
	register(command{name: "version", summary: "print stationctl's version", run: runVersion})
}

func stationAddr() string {
	if a := os.Getenv("STATIOND_ADDR"); a != "" {
		return a
	}
	return defaultAddr
}

func runDevices(args []string, stdout io.Writer) error {
	fs := newFlags("devices", os.Stderr)
	addr := fs.String("addr", stationAddr(), "stationd's address (or $STATIOND_ADDR)")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	token := fs.String("token", os.Getenv("STATIOND_TOKEN"), "login token stationd printed at start (or $STATIOND_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+*addr+"/api/devices", nil)
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach stationd at %s (is it running? -addr sets the address): %w", *addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("stationd at %s wants a login: give -token (the token stationd printed at start) or set $STATIOND_TOKEN", *addr)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stationd at %s answered %s", *addr, resp.Status)
	}
	var body struct {
		Devices []devices.Status `json:"devices"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("stationd at %s sent a device list stationctl cannot read: %w", *addr, err)
	}
	if *asJSON {
		_, err := stdout.Write(raw)
		return err
	}
	if len(body.Devices) == 0 {
		fmt.Fprintln(stdout, "no devices configured")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tDRIVER\tSTATE\tSINCE\tMODEL\tSERIAL\tFIRMWARE\tPORT\tDETAIL")
	for _, d := range body.Devices {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Info.ID, d.Info.Kind, d.Info.Driver, d.State,
			d.Since.Local().Format("15:04:05"), dash(d.Info.Vendor+" "+d.Info.Model), dash(d.Info.Serial),
			dash(d.Info.Firmware), dash(d.Info.Port), d.Detail)
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" || s == " " {
		return "-"
	}
	return s
}

func runVersion(args []string, stdout io.Writer) error {
	bi := buildinfo.Get()
	mod := ""
	if bi.Modified {
		mod = " (modified)"
	}
	_, err := fmt.Fprintf(stdout, "stationctl %s, commit %s%s, %s\n", bi.Version, bi.Commit, mod, bi.GoVersion)
	return err
}
