package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// The backup benchmark (issue 17): PocketBase's own backup (POST
// /api/backups as a superuser: VACUUM INTO of data.db and auxiliary.db, then
// a zip of the data directory) of the N-contact data set while one client
// keeps updating contacts through the collection API, one write after the
// other, as a user at the desk would. Figures: the longest a contact write
// took while the backup ran (target < 1 s), beside the same writes with no
// backup (the baseline); the backup's wall time and size, beside the sqlite3
// CLI's VACUUM INTO of data.db alone (the copy without the zip).

const backupWriteTarget = "< 1 s"

type writeSample struct {
	start time.Time
	took  time.Duration
	err   error
}

// writer updates contacts one after the other until stop is closed.
func (b *bench) writer(ids []string, stop <-chan struct{}) []writeSample {
	var out []writeSample
	for i := 0; ; i++ {
		select {
		case <-stop:
			return out
		default:
		}
		start := time.Now()
		status, body, err := b.doJSON(http.MethodPatch, "/api/collections/contacts/records/"+ids[i%len(ids)],
			map[string]any{"company": fmt.Sprintf("Bench write %d", i)})
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("HTTP %d %s", status, oneLine(string(body)))
		}
		out = append(out, writeSample{start, time.Since(start), err})
	}
}

func (b *bench) contactIDs(n int) ([]string, error) {
	status, body, err := b.doJSON(http.MethodGet, fmt.Sprintf("/api/collections/contacts/records?perPage=%d&skipTotal=1&fields=id&filter=%s",
		n, q(`workspace="`+b.m.Workspace+`"`)), nil)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("contacts: HTTP %d %s %v", status, body, err)
	}
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Items) == 0 {
		return nil, fmt.Errorf("contacts: none in %s", oneLine(string(body)))
	}
	ids := make([]string, len(page.Items))
	for i, it := range page.Items {
		ids[i] = it.ID
	}
	return ids, nil
}

// superuserToken logs in the data set's superuser (the backups API is theirs).
func (b *bench) superuserToken() (string, error) {
	status, body, err := b.doJSON(http.MethodPost, "/api/collections/_superusers/auth-with-password",
		map[string]string{"identity": b.m.SuperuserEmail, "password": b.m.Password})
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("superuser auth: HTTP %d %s %v", status, body, err)
	}
	var r struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(body, &r)
	return r.Token, nil
}

func stats(s []writeSample) (n int, p99, longest time.Duration, errs int, firstErr error) {
	var d []time.Duration
	for _, x := range s {
		if x.err != nil {
			if errs == 0 {
				firstErr = x.err
			}
			errs++
			continue
		}
		d = append(d, x.took)
	}
	if len(d) == 0 {
		return 0, 0, 0, errs, firstErr
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return len(d), d[(len(d)-1)*99/100], d[len(d)-1], errs, firstErr
}

func (b *bench) backupUnderWrites() {
	writeName := "longest contact write (PATCH, one client) while a backup runs"
	backupName := "backup of the data directory (POST /api/backups: time, size)"
	logf("bench: backup while contacts are written")
	ids, err := b.contactIDs(200)
	if err != nil {
		b.fail(writeName, backupWriteTarget, err)
		return
	}
	su, err := b.superuserToken()
	if err != nil {
		b.fail(writeName, backupWriteTarget, err)
		return
	}

	// the baseline: the same writes with no backup
	stop := make(chan struct{})
	var base []writeSample
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); base = b.writer(ids, stop) }()
	time.Sleep(b.cfg.Window)
	close(stop)
	wg.Wait()

	stop = make(chan struct{})
	var during []writeSample
	wg.Add(1)
	go func() { defer wg.Done(); during = b.writer(ids, stop) }()
	time.Sleep(time.Second)
	req, _ := http.NewRequest(http.MethodPost, b.srv.base+"/api/backups", strings.NewReader(`{"name":"bench_backup.zip"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", su)
	client := &http.Client{Timeout: 30 * time.Minute}
	bStart := time.Now()
	resp, err := client.Do(req)
	bEnd := time.Now()
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if err != nil {
		b.fail(backupName, "", err)
		b.fail(writeName, backupWriteTarget, err)
		return
	}
	// the writes that were under way at some moment of the backup
	var overlap []writeSample
	for _, s := range during {
		if s.start.Before(bEnd) && s.start.Add(s.took).After(bStart) {
			overlap = append(overlap, s)
		}
	}
	n, p99, longest, errs, firstErr := stats(overlap)
	bn, bp99, blongest, berrs, _ := stats(base)
	if errs > 0 || berrs > 0 {
		b.notef("backup: %d writes failed during the backup, %d without (%v)", errs, berrs, firstErr)
	}
	b.add(row{writeName, fmt.Sprintf("%s (p99 %s, %d writes during the backup)", ms(longest), ms(p99), n), backupWriteTarget,
		fmt.Sprintf("no backup: longest %s, p99 %s (%d writes in %s)", ms(blongest), ms(bp99), bn, b.cfg.Window),
		speedup(blongest, longest), verdict(n > 0 && errs == 0 && longest < time.Second)})

	size := fileSize(filepath.Join(b.dataDir, "backups", "bench_backup.zip"))
	dirSize := dirBytes(b.dataDir, "backups")
	fig := fmt.Sprintf("%s, %s (data directory %s)", ms(bEnd.Sub(bStart)), human(size), human(dirSize))
	bl, rat := "", ""
	if d, err := b.sqliteVacuumInto(); err == nil {
		bl, rat = "sqlite3 VACUUM INTO of data.db alone: "+ms(d), speedup(d, bEnd.Sub(bStart))
	} else {
		b.notef("backup baseline: %v", err)
	}
	b.add(row{backupName, fig, "", bl, rat, "reported"})
	_ = os.Remove(filepath.Join(b.dataDir, "backups", "bench_backup.zip"))
}

// sqliteVacuumInto times the sqlite3 CLI copying data.db with VACUUM INTO
// (beside the running server, as PocketBase's backup does it).
func (b *bench) sqliteVacuumInto() (time.Duration, error) {
	cli, err := b.sqlite3()
	if err != nil {
		return 0, err
	}
	out := filepath.Join(b.runDir, "vacuum-into.db")
	defer os.Remove(out)
	start := time.Now()
	if msg, err := exec.Command(cli, filepath.Join(b.dataDir, "data.db"), "VACUUM INTO '"+out+"'").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("sqlite3 VACUUM INTO: %v %s", err, msg)
	}
	return time.Since(start), nil
}

func dirBytes(dir, skip string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if info.IsDir() && info.Name() == skip {
			return filepath.SkipDir
		}
		if !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}
