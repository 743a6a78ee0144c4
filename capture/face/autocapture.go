package face

import (
	"fmt"
	"math"
	"time"

	"gocv.io/x/gocv"
)

// AutoCaptureOptions tune when AutoCapture fires.
type AutoCaptureOptions struct {
	// StableFor is how long, in frame time, every frame must pass with the
	// head still before the capture fires. 0: 300 ms.
	StableFor time.Duration `toml:"stable_for"`
	// MinFrames is the fewest passing frames a run needs. 0: 3.
	MinFrames int `toml:"min_frames"`
	// MaxGap: a longer gap between analysed frames (a consumer that fell
	// behind) restarts the run. 0: 250 ms.
	MaxGap time.Duration `toml:"max_gap"`
	// MaxMotion is how far the eye midpoint may move during a run, in
	// inter-eye distances. 0: 0.25.
	MaxMotion float64 `toml:"max_motion"`
	// MaxMisses is how many failing frames in a row a run survives (they
	// are skipped, never kept): a detector's one-frame slip (an eye missed
	// in sensor noise) then does not restart the wait, while a blink or a
	// movement, which lasts several frames, still does. 0: none.
	MaxMisses int `toml:"max_misses"`
}

// Captured is the frame AutoCapture kept. The caller closes Frame.
type Captured struct {
	Seq    uint64        // the frame's sequence number
	Time   time.Duration // the frame's time stamp
	Result Result
	Frame  gocv.Mat // BGR copy of the frame, at full resolution
	// JPEG is the kept frame's bytes when it was offered as JPEG
	// (OfferJPEG); Frame is then its full-resolution decode.
	JPEG []byte
	// RunStart is the sequence number of the run's first passing frame.
	RunStart uint64
}

// AutoCapture watches a stream of analysed frames and, when all checks
// have passed on a stable run of frames, hands back the best one. It holds
// at most one frame copy. It is not safe for concurrent use.
type AutoCapture struct {
	o        AutoCaptureOptions
	inRun    bool
	start    time.Duration
	startSeq uint64
	last     time.Duration
	n        int
	anchor   PointF
	best     Captured
	haveBest bool
	fired    bool
	misses   int
	spare    []byte // JPEG buffer of a dropped best frame, for reuse
}

// NewAutoCapture returns an AutoCapture; Close it to free the frame copy.
func NewAutoCapture(o AutoCaptureOptions) *AutoCapture {
	if o.StableFor <= 0 {
		o.StableFor = 300 * time.Millisecond
	}
	if o.MinFrames <= 0 {
		o.MinFrames = 3
	}
	if o.MaxGap <= 0 {
		o.MaxGap = 250 * time.Millisecond
	}
	if o.MaxMotion <= 0 {
		o.MaxMotion = 0.25
	}
	return &AutoCapture{o: o}
}

// Offer gives the next analysed frame (seq and t increase frame by frame).
// When the run is complete it returns the best frame of the run and true,
// once; call Reset to arm it again. frame is only read (and copied when it
// is the best of the run so far).
func (a *AutoCapture) Offer(seq uint64, t time.Duration, res Result, frame gocv.Mat) (Captured, bool) {
	return a.offer(seq, t, res, func(c *Captured) { c.Frame = frame.Clone() })
}

// OfferJPEG is Offer for a frame the caller holds as JPEG bytes and
// analysed with AnalyzeBytes (on the live path perhaps decoded at half
// size): the best frame's bytes are copied, and decoded at full resolution
// only when the capture fires, for the crop. data is only read. A kept
// frame that does not decode is an error (and the capture is re-armed).
func (a *AutoCapture) OfferJPEG(seq uint64, t time.Duration, res Result, data []byte) (Captured, bool, error) {
	c, ok := a.offer(seq, t, res, func(c *Captured) {
		// Reuse the copy of the frame this one replaces.
		c.JPEG = append(a.spare[:0], data...)
	})
	if !ok {
		return c, false, nil
	}
	m, err := gocv.IMDecode(c.JPEG, gocv.IMReadColor)
	if err != nil || m.Empty() || m.Cols() != c.Result.Width || m.Rows() != c.Result.Height {
		m.Close()
		a.Reset()
		return Captured{}, false, fmt.Errorf("face: the kept frame %d (%dx%d JPEG) does not decode at full resolution: %v", c.Seq, c.Result.Width, c.Result.Height, err)
	}
	c.Frame = m
	return c, true, nil
}

func (a *AutoCapture) offer(seq uint64, t time.Duration, res Result, keep func(*Captured)) (Captured, bool) {
	if a.fired {
		return Captured{}, false
	}
	if !res.Pass || len(res.Faces) != 1 {
		a.misses++
		if !a.inRun || a.misses > a.o.MaxMisses {
			a.breakRun()
		}
		return Captured{}, false
	}
	a.misses = 0
	f := res.Faces[0]
	mid := PointF{(f.Eyes[0].X + f.Eyes[1].X) / 2, (f.Eyes[0].Y + f.Eyes[1].Y) / 2}
	ied := math.Max(1, math.Hypot(f.Eyes[1].X-f.Eyes[0].X, f.Eyes[1].Y-f.Eyes[0].Y))
	if a.inRun && (t-a.last > a.o.MaxGap || t < a.last ||
		math.Hypot(mid.X-a.anchor.X, mid.Y-a.anchor.Y) > a.o.MaxMotion*ied) {
		a.breakRun()
	}
	if !a.inRun {
		a.inRun, a.start, a.startSeq, a.n, a.anchor = true, t, seq, 0, mid
	}
	a.last = t
	a.n++
	if !a.haveBest || res.Score > a.best.Result.Score {
		a.dropBest()
		a.best = Captured{Seq: seq, Time: t, Result: res, RunStart: a.startSeq}
		keep(&a.best)
		a.haveBest = true
	}
	if a.n >= a.o.MinFrames && t-a.start >= a.o.StableFor {
		c := a.best
		a.best, a.haveBest, a.fired, a.inRun = Captured{}, false, true, false
		return c, true
	}
	return Captured{}, false
}

// dropBest frees the kept frame (its JPEG buffer is kept for reuse).
func (a *AutoCapture) dropBest() {
	if !a.haveBest {
		return
	}
	if a.best.Frame.Ptr() != nil {
		a.best.Frame.Close()
	}
	if a.best.JPEG != nil {
		a.spare = a.best.JPEG
	}
	a.best, a.haveBest = Captured{}, false
}

func (a *AutoCapture) breakRun() {
	a.inRun, a.misses = false, 0
	a.dropBest()
}

// Fired reports whether the capture has fired since the last Reset.
func (a *AutoCapture) Fired() bool { return a.fired }

// Reset arms the capture again (for a retake).
func (a *AutoCapture) Reset() {
	a.breakRun()
	a.fired = false
}

// Close frees the frame copy it holds.
func (a *AutoCapture) Close() { a.breakRun() }
