package finger

import "fmt"

// Selector keeps the best of up to N captures of one finger: the capture
// flow feeds it each frame's Result and stops when a capture reaches the
// finger's threshold or when N attempts are used. It is a plain value with
// no goroutines and no locks; one capture flow owns it.
type Selector struct {
	// Threshold is the score a capture must reach to be accepted at once.
	Threshold int
	// MaxAttempts is N: after this many offers Done reports true even if no
	// capture reached the threshold, and Best is the one to keep (or to
	// show the officer for an override).
	MaxAttempts int

	attempts int
	best     Result
	bestIdx  int
	have     bool
}

// DefaultThreshold is a plain-impression acceptance score used when a
// finger has no configured threshold.
const DefaultThreshold = 40

// NewSelector returns a selector for one finger. threshold is clamped to
// 0..100, maxAttempts to at least 1.
func NewSelector(threshold, maxAttempts int) *Selector {
	return &Selector{Threshold: min(max(threshold, 0), 100), MaxAttempts: max(maxAttempts, 1)}
}

// Offer records one assessed capture and reports whether the selection is
// finished. A rejected image (not a fingerprint) counts as an attempt but
// never becomes Best. The index of each offer is its order, from 0.
func (s *Selector) Offer(r Result) (done bool) {
	idx := s.attempts
	s.attempts++
	if r.Fingerprint && (!s.have || r.Score > s.best.Score) {
		s.best, s.bestIdx, s.have = r, idx, true
	}
	return s.Done()
}

// Done reports whether a capture reached the threshold or all attempts are
// used.
func (s *Selector) Done() bool {
	return s.Accepted() || s.attempts >= s.MaxAttempts
}

// Accepted reports whether the best capture reached the threshold.
func (s *Selector) Accepted() bool {
	return s.have && s.best.Score >= s.Threshold
}

// Best returns the best capture so far, its offer index, and false when no
// offered image was a fingerprint.
func (s *Selector) Best() (Result, int, bool) {
	return s.best, s.bestIdx, s.have
}

// Attempts returns the number of captures offered.
func (s *Selector) Attempts() int { return s.attempts }

// Reset starts over for the next finger, keeping Threshold and MaxAttempts.
func (s *Selector) Reset() {
	*s = Selector{Threshold: s.Threshold, MaxAttempts: s.MaxAttempts}
}

// Thresholds holds per-finger acceptance scores, indexed by ISO/IEC 19794-4
// finger position (1 right thumb .. 10 left little); 0 entries mean
// DefaultThreshold.
type Thresholds [11]int

// For returns the threshold of finger position pos (1..10).
func (t *Thresholds) For(pos int) (int, error) {
	if pos < 1 || pos > 10 {
		return 0, fmt.Errorf("finger: position %d is not 1..10 (ISO/IEC 19794-4 finger positions)", pos)
	}
	if t[pos] == 0 {
		return DefaultThreshold, nil
	}
	return min(max(t[pos], 0), 100), nil
}
