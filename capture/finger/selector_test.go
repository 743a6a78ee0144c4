package finger

import "testing"

func fp(score int) Result { return Result{Score: score, Fingerprint: true} }
func notFP() Result       { return Result{Fingerprint: false, Reasons: []Reason{NotAFingerprint}} }

func TestSelectorAcceptsAtThreshold(t *testing.T) {
	s := NewSelector(60, 5)
	for i, sc := range []int{30, 55} {
		if s.Offer(fp(sc)) {
			t.Fatalf("offer %d (score %d): done too early", i, sc)
		}
	}
	if !s.Offer(fp(61)) || !s.Accepted() {
		t.Fatal("score 61 with threshold 60: not accepted")
	}
	best, idx, ok := s.Best()
	if !ok || best.Score != 61 || idx != 2 || s.Attempts() != 3 {
		t.Errorf("best %d at %d (ok %v), attempts %d", best.Score, idx, ok, s.Attempts())
	}
}

func TestSelectorBestOfN(t *testing.T) {
	s := NewSelector(90, 4)
	scores := []int{40, 70, 65, 50}
	for i, sc := range scores {
		done := s.Offer(fp(sc))
		if done != (i == len(scores)-1) {
			t.Fatalf("offer %d: done %v", i, done)
		}
	}
	if s.Accepted() {
		t.Error("accepted below the threshold")
	}
	if best, idx, ok := s.Best(); !ok || best.Score != 70 || idx != 1 {
		t.Errorf("best %d at %d, want 70 at 1", best.Score, idx)
	}
	s.Reset()
	if s.Attempts() != 0 || s.Threshold != 90 || s.MaxAttempts != 4 {
		t.Errorf("reset: %+v", s)
	}
	if _, _, ok := s.Best(); ok {
		t.Error("reset kept a best")
	}
}

func TestSelectorIgnoresNonFingerprints(t *testing.T) {
	s := NewSelector(0, 2) // threshold 0: any fingerprint is accepted
	if s.Offer(notFP()) {
		t.Fatal("a rejected image finished the selection")
	}
	if _, _, ok := s.Best(); ok {
		t.Fatal("a rejected image became best")
	}
	if !s.Offer(notFP()) || s.Accepted() {
		t.Fatal("after N rejected images: want done and not accepted")
	}
}

func TestThresholds(t *testing.T) {
	var th Thresholds
	th[1] = 55
	th[6] = 150
	for pos, want := range map[int]int{1: 55, 2: DefaultThreshold, 6: 100} {
		if got, err := th.For(pos); err != nil || got != want {
			t.Errorf("finger %d: %d %v, want %d", pos, got, err, want)
		}
	}
	if _, err := th.For(0); err == nil {
		t.Error("finger 0: no error")
	}
	if _, err := th.For(11); err == nil {
		t.Error("finger 11: no error")
	}
	if s := NewSelector(-5, 0); s.Threshold != 0 || s.MaxAttempts != 1 {
		t.Errorf("clamping: %+v", s)
	}
}
