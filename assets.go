package main

import (
	"embed"
	"io/fs"
)

// The built web UI (ui/ built into pb_public/ by `make ui`), embedded so the
// binary carries everything. The build output is not committed: a fresh
// clone has only pb_public/.placeholder.html, which `all:` embeds so that
// `go build` works before the UI is built, and which is served as the index
// page until it is.
//
//go:embed all:pb_public
var publicFiles embed.FS

func publicFS() fs.FS {
	sub, err := fs.Sub(publicFiles, "pb_public")
	if err != nil {
		panic(err)
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return placeholderFS{sub}
	}
	return sub
}

// placeholderFS serves .placeholder.html as index.html.
type placeholderFS struct{ fs.FS }

func (p placeholderFS) Open(name string) (fs.File, error) {
	if name == "index.html" {
		return p.FS.Open(".placeholder.html")
	}
	return p.FS.Open(name)
}
