package imports

// SetCrashAt makes s stop dead inside the transaction of batch n, before it
// commits, as a killed process would (tests of restart handling).
func SetCrashAt(s *Service, n int) { s.crashAt = n }
