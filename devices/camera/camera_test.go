package camera_test

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/capture/face"
	"github.com/openenroll/stationd/devices"
	"github.com/openenroll/stationd/devices/camera"
	camsim "github.com/openenroll/stationd/firmware-sim/camera"
)

const portrait = "../../testdata/faces/grace_hopper_512x512.jpg"

func startSim(t testing.TB, script string, fps float64, w, h int) (*camsim.Server, []camsim.Step) {
	t.Helper()
	p, err := camsim.LoadPerson(portrait, camsim.DefaultEyes)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := camsim.ParseScript(strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := camsim.Start(camsim.Config{Width: w, Height: h, FPS: fps, Person: p, Script: steps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, steps
}

var (
	simBinOnce sync.Once
	simBin     string
	simBinErr  error
	simBinDir  string
)

// startSimProcess runs the simulator as its own process (built without
// the race detector, so that it keeps its frame rate while this package
// runs instrumented) and stops it by its pid when the test ends.
func startSimProcess(t testing.TB, script string, fps float64, w, h int) (string, []camsim.Step) {
	t.Helper()
	steps, err := camsim.ParseScript(strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	simBinOnce.Do(func() {
		simBinDir, simBinErr = os.MkdirTemp("", "camsimd")
		if simBinErr != nil {
			return
		}
		simBin = filepath.Join(simBinDir, "camsimd")
		simBinErr = camsim.BuildDaemon("../..", simBin)
	})
	if simBinErr != nil {
		t.Fatal(simBinErr)
	}
	dir := t.TempDir()
	sf := filepath.Join(dir, "scenario")
	if err := os.WriteFile(sf, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	url, stop, err := camsim.StartDaemon(simBin, "-size", fmt.Sprintf("%dx%d", w, h), "-fps", fmt.Sprint(fps),
		"-portrait", portrait, "-script", sf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url, steps
}

func nextEvent(t *testing.T, sub *devices.Subscription, want devices.EventType) devices.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		ev, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if ev.Type == want {
			return ev
		}
	}
}

// simScript: the person sits down, tilts the head, is lit too dimly,
// blinks, then sits still and compliant for 1.5 s, and leaves; the stream
// then ends.
const simScript = `
empty 0.2s
sit 0.8s
tilt 18 0.2s
hold 0.3s
tilt 0 0.2s
light 0.4 0.2s
hold 0.3s
light 1 0.2s
blink 0.3s
noise 2
hold 1.5s
leave 0.4s
`

// TestSimulatedCameraAutoCapture runs the real path: the simulator serves
// MJPEG over HTTP on 127.0.0.1, the registry opens it with this driver
// through OpenCV's FFmpeg backend, a consumer checks every frame it gets
// and auto-capture fires. Times are in simulated frames (sequence numbers
// at the simulator's 25 fps), not wall-clock.
func TestSimulatedCameraAutoCapture(t *testing.T) {
	const fps = 25
	url, steps := startSimProcess(t, simScript, fps, 480, 360)
	tl := camsim.NewTimeline(steps, fps)

	reg := devices.NewRegistry(devices.Options{RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	defer reg.Close()
	events := reg.Subscribe(0)
	opts := camera.DefaultOptions()
	opts.QueueLen = 4
	if err := reg.Open(devices.Config{ID: "cam", Driver: camera.DriverName, Port: url, Options: &opts}); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events, devices.EventAdded)
	if ev.Device.Kind != devices.KindCamera || ev.State != devices.StateReady {
		t.Fatalf("added: %+v", ev)
	}
	dev, ok := reg.Get("cam")
	if !ok {
		t.Fatal("camera not in registry")
	}
	cam := dev.(*camera.Device)
	set := cam.Settings()
	if set.Width != 480 || set.Height != 360 || set.Backend != "ffmpeg" {
		t.Errorf("settings %+v", set)
	}
	sub := cam.Subscribe(0)
	defer sub.Close()

	// Default thresholds, tracking on as for live preview.
	an, err := face.NewAnalyzer(face.Options{TrackEvery: face.DefaultLiveTrackEvery})
	if err != nil {
		t.Fatal(err)
	}
	defer an.Close()
	ac := face.NewAutoCapture(face.AutoCaptureOptions{StableFor: 300 * time.Millisecond, MinFrames: 3, MaxMisses: 1})
	defer ac.Close()

	var captured *face.Captured
	var firedAt uint64
	analysed, passedNonCompliant := 0, 0
	ctx := context.Background()
	// The stream is read (first frame included) until the simulator ends
	// it; the first frame (seq 0) was read by Open before subscribing.
	for {
		f, err := sub.Next(ctx)
		if err != nil {
			break // camera lost at end of stream
		}
		res, err := an.Analyze(f.Mat)
		if err != nil {
			t.Fatal(err)
		}
		analysed++
		st := tl.At(int(f.Seq))
		if res.Pass && !st.Compliant() {
			passedNonCompliant++
			if testing.Verbose() {
				t.Logf("frame %d: non-compliant scene (script line %d) passed", f.Seq, st.StepLine)
			}
		}
		if !res.Pass && st.Compliant() && testing.Verbose() {
			t.Logf("frame %d: compliant scene failed: %v", f.Seq, res.Failing())
		}
		frameTime := time.Duration(f.Seq) * time.Second / fps
		if c, done := ac.Offer(f.Seq, frameTime, res, f.Mat); done {
			captured, firedAt = &c, f.Seq
		}
		f.Release()
	}
	if got, want := cam.Frames(), uint64(tl.Frames()); got != want {
		t.Errorf("driver read %d frames, simulator's script has %d: sequence numbers would not match simulated time", got, want)
	}
	t.Logf("analysed %d of %d frames (%d dropped by the queue); %d non-compliant frames passed the checks",
		analysed, cam.Frames(), sub.Dropped(), passedNonCompliant)
	if captured == nil {
		t.Fatal("auto-capture never fired")
	}
	defer captured.Frame.Close()
	// Start of the compliant stretch the capture belongs to.
	start := int(firedAt)
	for start > 0 && tl.At(start-1).Compliant() {
		start--
	}
	for _, seq := range []uint64{firedAt, captured.Seq, captured.RunStart} {
		if !tl.At(int(seq)).Compliant() {
			t.Errorf("captured from frame %d, where the simulated person is not compliant (%+v)", seq, tl.At(int(seq)))
		}
	}
	delay := int(firedAt) - start
	t.Logf("compliant from frame %d; auto-capture fired at frame %d (%d ms of simulated time later), run started at %d, kept frame %d (score %d)",
		start, firedAt, delay*1000/fps, captured.RunStart, captured.Seq, captured.Result.Score)
	if delay > fps {
		t.Errorf("auto-capture fired %d frames (%d ms) after the person became compliant, want within 1 s", delay, delay*1000/fps)
	}
	jpg, err := face.EncodeJPEG(mustCrop(t, captured), 20000)
	if err != nil || len(jpg) > 20000 {
		t.Errorf("DG2 portrait: %d bytes, %v", len(jpg), err)
	}

	// End of stream: the camera is reported gone, and comes back when the
	// simulator serves again (it replays its script to each connection).
	nextEvent(t, events, devices.EventRemoved)
	ev = nextEvent(t, events, devices.EventAdded)
	if ev.State != devices.StateReady {
		t.Errorf("re-added in state %v", ev.State)
	}
}

func mustCrop(t *testing.T, c *face.Captured) gocv.Mat {
	t.Helper()
	m, err := face.Crop(c.Frame, c.Result.Faces[0], face.FullFrontal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestUnplugAndReturn: the simulator is unplugged mid-stream; the driver
// reports the camera absent, the registry keeps failing to open it while
// it is gone, and it is ready again after the simulator is plugged back.
func TestUnplugAndReturn(t *testing.T) {
	srv, _ := startSim(t, "hold 30s", 25, 160, 120)
	reg := devices.NewRegistry(devices.Options{RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	defer reg.Close()
	events := reg.Subscribe(0)
	if err := reg.Open(devices.Config{ID: "cam", Driver: camera.DriverName, Port: srv.URL()}); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, events, devices.EventAdded)
	srv.Unplug()
	nextEvent(t, events, devices.EventRemoved)
	// While unplugged, opening fails: the registry publishes the reason.
	ev := nextEvent(t, events, devices.EventState)
	if ev.State != devices.StateAbsent || !strings.Contains(ev.Detail, "cannot open") {
		t.Errorf("while unplugged: %+v", ev)
	}
	srv.Plug()
	ev = nextEvent(t, events, devices.EventAdded)
	if ev.State != devices.StateReady {
		t.Errorf("after plug: %+v", ev)
	}
}

type stateLog struct {
	mu     sync.Mutex
	states []devices.State
	absent chan struct{}
}

func (s *stateLog) SetState(st devices.State, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states = append(s.states, st)
	if st == devices.StateAbsent {
		close(s.absent)
	}
}

// TestImageSequenceSource reads an image-sequence directory (the OpenCV
// "images" backend) to its end; the end is reported as absent. A slow
// consumer keeps only the newest frames and counts what it lost.
func TestImageSequenceSource(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 12; i++ {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(i*20), 100, 50, 0), 48, 64, gocv.MatTypeCV8UC3)
		if !gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("img_%03d.png", i)), m) {
			t.Fatal("write")
		}
		m.Close()
	}
	rep := &stateLog{absent: make(chan struct{})}
	o := camera.DefaultOptions()
	o.Source = filepath.Join(dir, "img_%03d.png")
	cam, err := camera.Open(context.Background(), "seq", o, rep)
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	if s := cam.Settings(); s.Backend != "images" || s.Width != 64 || s.Height != 48 {
		t.Errorf("settings %+v", s)
	}
	// Subscribed after the first frames may have gone by: whatever it
	// gets, a queue of 2 that is never read holds the last two frames.
	sub := cam.Subscribe(2)
	<-rep.absent
	if cam.Frames() != 12 {
		t.Errorf("read %d frames, want 12", cam.Frames())
	}
	var got []uint64
	for {
		f, err := sub.Next(context.Background())
		if err != nil {
			break
		}
		got = append(got, f.Seq)
		f.Release()
	}
	// The subscription ended with the stream; it was closed with its
	// queue released, so nothing is delivered after the loss.
	if len(got) > 2 {
		t.Errorf("queue of 2 delivered %v", got)
	}
	if sub.Dropped() == 0 && cam.Frames() > 3 {
		t.Logf("no drops counted (subscribed late)")
	}
}

// TestVideoFileSource plays a video file (MJPEG in AVI, written here with
// OpenCV) through the FFmpeg backend to its end.
func TestVideoFileSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clip.avi")
	vw, err := gocv.VideoWriterFile(path, "MJPG", 10, 96, 64, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 15; i++ {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(i*15), 80, 200, 0), 64, 96, gocv.MatTypeCV8UC3)
		vw.Write(m)
		m.Close()
	}
	vw.Close()
	rep := &stateLog{absent: make(chan struct{})}
	o := camera.DefaultOptions()
	o.Source = path
	cam, err := camera.Open(context.Background(), "file", o, rep)
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	<-rep.absent
	if s := cam.Settings(); cam.Frames() != 15 || s.Width != 96 || s.FPS != 10 || s.FourCC != "MJPG" {
		t.Errorf("read %d frames, settings %+v", cam.Frames(), s)
	}
}

func TestOpenFailsFast(t *testing.T) {
	o := camera.DefaultOptions()
	for _, src := range []string{"/dev/video-none", filepath.Join(t.TempDir(), "missing_%03d.png"), "http://127.0.0.1:1/stream.mjpg"} {
		o.Source = src
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := camera.Open(ctx, "x", o, nil)
		cancel()
		if err == nil || !strings.Contains(err.Error(), `camera "x"`) {
			t.Errorf("%s: err %v", src, err)
		}
	}
	o.Source, o.API = "0", "bogus"
	if _, err := camera.Open(context.Background(), "x", o, nil); err == nil {
		t.Error("bogus api accepted")
	}
}

// TestSlowConsumerDropsOldest: a consumer that reads slower than the
// camera gets the newest frames and a count of those it lost; the camera
// does not slow down.
func TestSlowConsumerDropsOldest(t *testing.T) {
	srv, steps := startSim(t, "hold 1.2s", 50, 160, 120)
	o := camera.DefaultOptions()
	o.Source = srv.URL()
	o.Width, o.Height = 800, 600 // a stream cannot be resized: reported as refused
	rep := &stateLog{absent: make(chan struct{})}
	cam, err := camera.Open(context.Background(), "cam", o, rep)
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	if s := cam.Settings(); s.Width != 160 || len(s.Refused) != 2 || !strings.HasPrefix(s.Refused[0], "width: asked 800") {
		t.Errorf("settings %+v", s)
	}
	sub := cam.Subscribe(2)
	fast := cam.Subscribe(64)
	<-rep.absent // stream over: the slow consumer has read nothing
	total := uint64(camsim.NewTimeline(steps, 50).Frames())
	if cam.Frames() != total {
		t.Errorf("camera read %d frames, want %d", cam.Frames(), total)
	}
	if sub.Dropped() == 0 || sub.Dropped() >= total {
		t.Errorf("slow consumer dropped %d of %d", sub.Dropped(), total)
	}
	if fast.Dropped() != 0 {
		t.Errorf("roomy consumer dropped %d", fast.Dropped())
	}
	_ = image.Point{}
}

func TestMain(m *testing.M) {
	// FFmpeg's probing of the MJPEG stream is quick; keep its I/O timeout
	// short so a test that fails does not hang for FFmpeg's default.
	os.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rw_timeout;3000000")
	code := m.Run()
	if simBinDir != "" {
		os.RemoveAll(simBinDir)
	}
	os.Exit(code)
}
