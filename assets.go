package main

import (
	"embed"
	"io/fs"
)

// The built web UI, embedded so the binary carries everything.
//
//go:embed all:pb_public
var publicFiles embed.FS

func publicFS() fs.FS {
	sub, err := fs.Sub(publicFiles, "pb_public")
	if err != nil {
		panic(err)
	}
	return sub
}
