package zfm

// Options returns the options the scanner was opened with (and the baud
// it runs at now, after SetBaud): the technician's self-test needs the
// configured password and the sensor's image size.
func (s *Scanner) Options() Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts
}
