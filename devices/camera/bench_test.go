package camera_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"gocv.io/x/gocv"

	"github.com/openenroll/stationd/devices/camera"
)

// BenchmarkCameraToConsumerFPS measures the frames per second that reach
// a websocket client: simulator (MJPEG over HTTP) -> this driver (OpenCV
// FFmpeg decode) -> subscriber queue -> JPEG preview encode -> websocket
// on 127.0.0.1 -> client. The simulator offers 640x480 at up to 120 fps,
// so the figure is what the chain sustains, not the camera's rate.
// Goal: >= 25 fps.
func BenchmarkCameraToConsumerFPS(b *testing.B) {
	url, _ := startSimProcess(b, "noise 2\nhold 1h", 120, 640, 480)
	o := camera.DefaultOptions()
	o.Source = url
	o.Logger = slog.New(slog.DiscardHandler) // keep the benchmark row readable
	cam, err := camera.Open(context.Background(), "bench", o, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cam.Close()

	up := websocket.Upgrader{}
	sent := make(chan uint64, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		sub := cam.Subscribe(2)
		defer func() { sent <- sub.Dropped(); sub.Close() }()
		for {
			f, err := sub.Next(r.Context())
			if err != nil {
				return
			}
			buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, f.Mat, []int{gocv.IMWriteJpegQuality, 70})
			f.Release()
			if err != nil {
				return
			}
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			err = c.WriteMessage(websocket.BinaryMessage, buf.GetBytes())
			buf.Close()
			if err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: handler}
	go hs.Serve(ln)
	defer hs.Close()
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := conn.ReadMessage(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var bytes int64
	for i := 0; i < b.N; i++ {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		bytes += int64(len(msg))
	}
	el := time.Since(start)
	b.StopTimer()
	conn.Close()
	b.ReportMetric(float64(b.N)/el.Seconds(), "fps")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/preview")
	select {
	case d := <-sent:
		b.ReportMetric(float64(d), "dropped")
	case <-time.After(2 * time.Second):
	}
}
