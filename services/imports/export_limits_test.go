package imports

// SetPanicInParse makes the parser goroutine of s's jobs panic (tests of
// the job's recovery).
func SetPanicInParse(s *Service, on bool) { s.panicInParse = on }
