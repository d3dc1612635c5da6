package backups

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/archive"
	"github.com/pocketbase/pocketbase/tools/osutils"
	"github.com/pocketbase/pocketbase/tools/security"
)

// restoreExclude are the data directory's entries a restore leaves in place:
// PocketBase's own list (core.BaseApp.RestoreBackup: the backups, its temp
// dir, the TLS certificate cache, lost+found) and our lock file.
var restoreExclude = []string{core.LocalBackupsDirName, core.LocalTempDirName, core.LocalAutocertCacheDirName, "lost+found", LockFileName}

// ErrRestoreWhileServing is a restore asked for while a server runs.
var ErrRestoreWhileServing = apperr.Conflict("data_dir_in_use",
	"a pi-crm server is running on this data directory: stop it first (sudo systemctl stop pi-crm), "+
		"or restore from the admin dashboard (Settings → Backups) or POST /api/backups/{name}/restore, "+
		"which restore through the running server and restart it")

// ErrNotFound is a name that is not in the backups storage.
var ErrNotFound = apperr.NotFound("backup_not_found", "no such backup: see pi-crm backup list")

// Restore replaces the data directory's content with the archive's, the way
// PocketBase's RestoreBackup does (extract inside the data directory, move
// the current content aside, move the extracted content in, undo on a
// failure), for a data directory no server runs on: it holds the directory's
// lock throughout and refuses with ErrDataDirInUse when a server holds it.
// PocketBase's own restore ends by re-executing the process (app.Restart),
// which for a CLI command would run the command again; this one bootstraps
// app again instead, which also deletes the moved-aside old content (as the
// restarted server does).
func Restore(ctx context.Context, app core.App, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	lock, err := Acquire(app.DataDir())
	if errors.Is(err, ErrDataDirInUse) {
		return ErrRestoreWhileServing
	}
	if err != nil {
		return err
	}
	defer lock.Release()

	dataDir := app.DataDir()
	tempDir := filepath.Join(dataDir, core.LocalTempDirName)
	if err := os.MkdirAll(tempDir, 0o750); err != nil {
		return err
	}
	extracted := filepath.Join(tempDir, "pb_restore_"+security.PseudorandomString(8))
	defer os.RemoveAll(extracted)
	if err := extract(ctx, app, name, tempDir, extracted); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(extracted, "data.db")); err != nil {
		return apperr.BadRequest("backup_invalid", "the archive has no data.db: it is not a pi-crm/PocketBase backup")
	}

	// close every database before their files move
	if err := app.ClearBootstrap(); err != nil {
		return err
	}
	old := filepath.Join(tempDir, "old_pb_data_"+security.PseudorandomString(8))
	if err := osutils.MoveDirContent(dataDir, old, restoreExclude...); err != nil {
		return errors.Join(fmt.Errorf("move the current data aside: %w", err), app.Bootstrap())
	}
	if err := osutils.MoveDirContent(extracted, dataDir, restoreExclude...); err != nil {
		// put the old content back: first whatever of the archive got in
		revert := errors.Join(osutils.MoveDirContent(dataDir, extracted, restoreExclude...), osutils.MoveDirContent(old, dataDir, restoreExclude...))
		if revert != nil {
			return fmt.Errorf("restore failed (%v) and so did putting the old data back (%v): the old data is in %s", err, revert, old)
		}
		return errors.Join(fmt.Errorf("move the backup's content in: %w", err), app.Bootstrap())
	}
	if err := app.Bootstrap(); err != nil {
		// e.g. settings encrypted with another --encryptionEnv key; a failed
		// bootstrap leaves PocketBase's temp dir, and the old data in it, alone
		return fmt.Errorf("the backup's data is in place but does not open (%w); the data it replaced is in %s", err, old)
	}
	return nil
}

func checkName(name string) error {
	if !nameRe.MatchString(name) {
		return errName
	}
	return nil
}

// extract unpacks the archive into dest; an S3 archive is downloaded into
// tempDir first (archive.Extract needs a file it can seek in).
func extract(ctx context.Context, app core.App, name, tempDir, dest string) error {
	fsys, err := app.NewBackupsFilesystem()
	if err != nil {
		return err
	}
	defer fsys.Close()
	fsys.SetContext(ctx)
	if ok, _ := fsys.Exists(name); !ok {
		return ErrNotFound
	}
	if !app.Settings().Backups.S3.Enabled {
		return archive.Extract(filepath.Join(app.DataDir(), core.LocalBackupsDirName, name), dest)
	}
	r, err := fsys.GetReader(name)
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(tempDir, "pb_restore_zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		return err
	}
	return archive.Extract(tmp.Name(), dest)
}
