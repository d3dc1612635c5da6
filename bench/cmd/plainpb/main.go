// Command plainpb is stock PocketBase v0.40.4 with nothing of pi-crm: no
// migrations, hooks, routes or UI. The benchmark serves the same data
// directory with it, so the cold start, the memory and the list of the
// plain collection are measured against PocketBase itself in the same run.
package main

import (
	"log"

	"github.com/pocketbase/pocketbase"
)

func main() {
	if err := pocketbase.New().Start(); err != nil {
		log.Fatal(err)
	}
}
