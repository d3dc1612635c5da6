package migrations

// For the external tests: a migration's SQL file run by hand (a down), and
// the finder's schema check of 1764001050.
var (
	ExecSQLFile            = execSQLFile
	MatchSchemaCurrent1050 = matchSchemaCurrent1050
)
