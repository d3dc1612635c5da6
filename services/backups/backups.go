package backups

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pocketbase/pocketbase/core"
)

// Backup is one archive in the backups storage.
type Backup struct {
	Name     string
	Size     int64
	Modified time.Time
}

// nameRe is PocketBase's own rule for a backup name (apis/backup_create.go),
// so a name the CLI accepts is one the dashboard can download and restore.
var nameRe = regexp.MustCompile(`^[a-z0-9_-]+\.zip$`)

var errName = apperr.BadRequest("backup_name_invalid",
	"a backup name is lower-case letters, digits, _ and -, ending in .zip (e.g. before_update.zip)")

// NormalizeName checks a name given on the command line; ".zip" is added
// when it is missing. "" stays "" (PocketBase then names it pb_backup_<app>_<UTC time>.zip).
func NormalizeName(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if !strings.HasSuffix(name, ".zip") {
		name += ".zip"
	}
	if !nameRe.MatchString(name) {
		return "", errName
	}
	return name, nil
}

// Create makes a backup with PocketBase's own CreateBackup and returns it.
func Create(ctx context.Context, app core.App, name string) (Backup, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return Backup{}, err
	}
	before := map[string]bool{}
	if name == "" {
		// PocketBase picks the name; find it afterwards as the one new archive
		list, err := List(app)
		if err != nil {
			return Backup{}, err
		}
		for _, b := range list {
			before[b.Name] = true
		}
	}
	if err := app.CreateBackup(ctx, name); err != nil {
		return Backup{}, err
	}
	list, err := List(app)
	if err != nil {
		return Backup{}, err
	}
	for _, b := range list {
		if b.Name == name || (name == "" && !before[b.Name]) {
			return b, nil
		}
	}
	return Backup{}, fmt.Errorf("backup %q was created but is not in the backups storage", name)
}

// List returns the archives in the backups storage (local or S3), newest first.
func List(app core.App) ([]Backup, error) {
	fsys, err := app.NewBackupsFilesystem()
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	objs, err := fsys.List("")
	if err != nil {
		return nil, err
	}
	out := make([]Backup, 0, len(objs))
	for _, o := range objs {
		out = append(out, Backup{Name: o.Key, Size: o.Size, Modified: o.ModTime})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Modified.Equal(out[j].Modified) {
			return out[i].Modified.After(out[j].Modified)
		}
		return out[i].Name > out[j].Name
	})
	return out, nil
}

// Prune deletes every archive but the keep newest ones, manual and @auto
// alike (PocketBase's CronMaxKeep prunes only its own @auto_ archives, after
// each scheduled run), and returns what it deleted.
func Prune(app core.App, keep int) ([]Backup, error) {
	if keep < 1 {
		return nil, apperr.BadRequest("backup_keep_invalid", "--keep must be at least 1: pruning never deletes the last backup")
	}
	list, err := List(app)
	if err != nil {
		return nil, err
	}
	if len(list) <= keep {
		return nil, nil
	}
	fsys, err := app.NewBackupsFilesystem()
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	var deleted []Backup
	for _, b := range list[keep:] {
		if err := fsys.Delete(b.Name); err != nil {
			return deleted, fmt.Errorf("delete %s: %w", b.Name, err)
		}
		deleted = append(deleted, b)
	}
	return deleted, nil
}
