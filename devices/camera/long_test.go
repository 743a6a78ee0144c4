package camera_test

import (
	"context"
	"flag"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/capture/face"
	"github.com/openenroll/stationd/devices/camera"
)

var (
	long    = flag.Bool("long", false, "run TestLongPreview (memory over a long simulated preview)")
	longFor = flag.Duration("long-for", time.Hour, "how long TestLongPreview runs")
)

// rssKB reads this process's resident set size from /proc.
func rssKB(t testing.TB) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

// TestLongPreview runs the station's camera path for a long time: the
// simulator plays a person sitting down, fidgeting and leaving, over and
// over, at 25 fps 640x480; the consumer checks every frame it gets, runs
// auto-capture (re-armed after each capture, crop and JPEG encode) and
// encodes a preview JPEG, as the station does for the operator screen. It
// samples the resident memory every few seconds and fails if it passes
// 200 MB or grows from the first quarter of the run to the last by more
// than 15% (a leak: every gocv Mat must be closed).
//
//	go test ./devices/camera -run TestLongPreview -long -long-for 1h -v
func TestLongPreview(t *testing.T) {
	if !*long {
		t.Skip("long run: enable with -long (and -long-for DURATION)")
	}
	script := "empty 1s\nsit 1s\nhold 2s\ntilt 15 0.3s\ntilt 0 0.3s\nblink 0.2s\nnoise 2\nhold 2s\nleave 1s"
	srv, _ := startSim(t, script, 25, 640, 480)
	o := camera.DefaultOptions()
	o.Source = srv.URL()
	an, err := face.NewAnalyzer(face.Options{TrackEvery: face.DefaultLiveTrackEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	ac := face.NewAutoCapture(face.AutoCaptureOptions{})
	defer ac.Close()

	deadline := time.Now().Add(*longFor)
	var samples []int
	lastSample := time.Now()
	frames, captures := 0, 0
	for time.Now().Before(deadline) {
		// The script ends the stream every 7.8 s: re-open as the registry would.
		cam, err := camera.Open(context.Background(), "long", o, nil)
		if err != nil {
			t.Fatal(err)
		}
		sub := cam.Subscribe(2)
		for {
			f, err := sub.Next(context.Background())
			if err != nil {
				break
			}
			res, err := an.Analyze(f.Mat)
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := ac.Offer(f.Seq, time.Duration(f.Seq)*40*time.Millisecond, res, f.Mat); ok {
				if m, err := face.Crop(c.Frame, c.Result.Faces[0], face.FullFrontal); err == nil {
					face.EncodeJPEG(m, 20000)
					m.Close()
				}
				c.Frame.Close()
				ac.Reset()
				captures++
			}
			if buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, f.Mat, []int{gocv.IMWriteJpegQuality, 70}); err == nil {
				buf.Close()
			}
			f.Release()
			frames++
			if time.Since(lastSample) >= 5*time.Second {
				lastSample = time.Now()
				runtime.GC()
				samples = append(samples, rssKB(t))
				t.Logf("t=%v frames=%d captures=%d rss=%d kB", time.Until(deadline).Round(time.Second), frames, captures, samples[len(samples)-1])
			}
		}
		sub.Close()
		cam.Close()
	}
	if len(samples) < 8 {
		t.Fatalf("only %d samples: run longer", len(samples))
	}
	q := len(samples) / 4
	avg := func(s []int) float64 {
		sum := 0
		for _, v := range s {
			sum += v
		}
		return float64(sum) / float64(len(s))
	}
	first, last := avg(samples[:q]), avg(samples[len(samples)-q:])
	peak := 0
	for _, v := range samples {
		peak = max(peak, v)
	}
	t.Logf("frames %d, captures %d, RSS first quarter %.0f kB, last quarter %.0f kB, peak %d kB", frames, captures, first, last, peak)
	if peak > 200*1024 {
		t.Errorf("peak RSS %d kB over 200 MB", peak)
	}
	if last > first*1.15 {
		t.Errorf("RSS grew from %.0f to %.0f kB: leak", first, last)
	}
}
