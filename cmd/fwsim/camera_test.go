package main

import (
	"bufio"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	camsim "github.com/openenroll/stationd/firmware-sim/camera"
)

// TestFwsimCamera runs `fwsim camera -controls misset -stamp`: the
// controls endpoint it prints reports the mis-set camera, and the first
// frame carries a capture stamp from the last moments.
func TestFwsimCamera(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runCamera(ctx, []string{"-portrait", "../../testdata/faces/grace_hopper_512x512.jpg", "-size", "160x120",
			"-fps", "20", "-controls", "misset", "-stamp"}, pw, io.Discard)
		pw.Close()
	}()
	got := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		got[k] = v
		if k == "controls" {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	resp, err := http.Get(got["controls"])
	if err != nil {
		t.Fatalf("printed %v: %v", got, err)
	}
	var ctl struct {
		Protocol string
		Controls map[string]struct{ Value float64 }
	}
	err = json.NewDecoder(resp.Body).Decode(&ctl)
	resp.Body.Close()
	if err != nil || ctl.Protocol != camsim.ControlsProtocol || ctl.Controls["exposure"].Value != 25 || ctl.Controls["white_balance"].Value != 3000 {
		t.Fatalf("controls %+v, %v", ctl, err)
	}
	start := time.Now().Add(-time.Millisecond)
	resp, err = http.Get(got["stream"])
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	part, err := multipart.NewReader(resp.Body, params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(part)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := camsim.ReadStamp(img)
	if err != nil || st.Time.Before(start) || time.Since(st.Time) > time.Minute || st.Seq != 0 {
		t.Errorf("stamp %+v, %v (stream opened %v)", st, err, start)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err = runCamera(context.Background(), []string{"-portrait", "../../testdata/faces/grace_hopper_512x512.jpg", "-controls", "iris=2"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown control") {
		t.Errorf("unknown control: %v", err)
	}
}
