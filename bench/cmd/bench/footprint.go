package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Footprint for an SD card (issue 17): the binary's size, the bytes the idle
// server writes per hour, and the bytes a 10,000-message outbox send writes.
// Bytes written are /proc/PID/io of the server: write_bytes less
// cancelled_write_bytes (what it caused to be sent to the block layer, i.e.
// what reaches the card, less the dirty pages of files truncated or deleted
// before they were written back, such as the statement journals in unlinked
// temporary files), and wchar (what it passed to write(2)). Both are shown
// raw too: write_bytes counts a page each time it is dirtied again after a
// write-back, so it can exceed wchar. The idle figure is measured over a bounded
// window (BENCH_IDLE_SECONDS, 60) and extrapolated to an hour: jobs that run
// less often than the window (hourly log cleanup, the nightly audit
// retention, the 03:00 backup) are not in it.

const sendWritesTarget = 10_000

// ioCounters are the fields of /proc/PID/io used here.
type ioCounters struct{ write, cancelled, wchar int64 }

func (a ioCounters) sub(b ioCounters) ioCounters {
	return ioCounters{a.write - b.write, a.cancelled - b.cancelled, a.wchar - b.wchar}
}

func (a ioCounters) scale(f float64) ioCounters {
	return ioCounters{int64(float64(a.write) * f), int64(float64(a.cancelled) * f), int64(float64(a.wchar) * f)}
}

func (a ioCounters) String() string {
	return fmt.Sprintf("%s to disk (write_bytes %s − cancelled %s; wchar %s)", human(a.write-a.cancelled), human(a.write), human(a.cancelled), human(a.wchar))
}

// procIO reads /proc/PID/io.
func procIO(pid int) (ioCounters, error) {
	var c ioCounters
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return c, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "write_bytes":
			c.write = n
		case "cancelled_write_bytes":
			c.cancelled = n
		case "wchar":
			c.wchar = n
		}
	}
	return c, sc.Err()
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// binarySize: the measured binary (this machine's) and, when built, the
// Pi's arm64 one, beside stock PocketBase built the same way.
func (b *bench) binarySize() {
	fig := human(fileSize(b.cfg.Bin))
	if n := fileSize("bin/pi-crm-linux-arm64"); n > 0 {
		fig += fmt.Sprintf(" (arm64: %s)", human(n))
	}
	bl, rat := "", ""
	if n := fileSize(b.cfg.PlainBin); n > 0 {
		bl, rat = "stock PocketBase: "+human(n), ratio(float64(n)/float64(fileSize(b.cfg.Bin)))
	}
	b.add(row{"binary size (-trimpath -s -w, UI embedded)", fig, "", bl, rat, "reported"})
}

// idleWrites: the server untouched for the window, right after the idle RSS.
func (b *bench) idleWrites() {
	window := time.Duration(envInt("BENCH_IDLE_SECONDS", 60)) * time.Second
	name := fmt.Sprintf("disk writes of the idle server, per hour (measured over %s, ×%.0f)", window, time.Hour.Seconds()/window.Seconds())
	pid := b.srv.pid()
	c0, err := procIO(pid)
	if err != nil {
		b.fail(name, "", err)
		return
	}
	logf("bench: idle writes over %s", window)
	time.Sleep(window)
	c1, err := procIO(pid)
	if err != nil {
		b.fail(name, "", err)
		return
	}
	b.add(row{name, c1.sub(c0).scale(time.Hour.Seconds()/window.Seconds()).String() + " per hour", "", "", "", "reported"})
}

// sendWrites: an outbox campaign to the contacts with lead_score < 100
// (about a tenth of the Bench workspace: ~10,000 at BENCH_N=100000), the
// server's bytes written from the send request to "sent", per message and
// for 10,000 messages; the WAL's size afterwards (bounded by the
// journal_size_limit pragma and the checkpoints).
func (b *bench) sendWrites() {
	name := "disk writes of an outbox send (per 10,000 messages)"
	if err := b.selfApproval(); err != nil {
		b.fail(name, "", err)
		return
	}
	status, body, err := b.doJSON(http.MethodPost, "/api/collections/templates/records", map[string]any{
		"workspace": b.m.Workspace, "name": "Bench footprint", "channel": "email",
		"subject": "{{first_name}}, the December news", "body_html": benchBody})
	if err != nil || status != http.StatusOK {
		b.fail(name, "", fmt.Errorf("template: HTTP %d %s %v", status, body, err))
		return
	}
	tpl := findID(body)
	status, body, err = b.doJSON(http.MethodPost, "/api/collections/campaigns/records", map[string]any{
		"workspace": b.m.Workspace, "name": "Bench footprint", "type": "email", "template": tpl, "provider": "outbox",
		"segment": map[string]any{"conditions": []map[string]string{{"field": "custom.lead_score", "op": "lt", "value": "100"}}}})
	if err != nil || status != http.StatusOK {
		b.fail(name, "", fmt.Errorf("campaign: HTTP %d %s %v", status, body, err))
		return
	}
	id := findID(body)
	for _, a := range []string{"submit", "approve"} {
		if status, body, err := b.doJSON(http.MethodPost, "/api/crm/campaigns/"+id+"/"+a, map[string]any{}); err != nil || status != http.StatusOK {
			b.fail(name, "", fmt.Errorf("%s: HTTP %d %s %v", a, status, body, err))
			return
		}
	}
	pid := b.srv.pid()
	time.Sleep(2 * time.Second)
	c0, _ := procIO(pid)
	start := time.Now()
	if status, body, err := b.doJSON(http.MethodPost, "/api/crm/campaigns/"+id+"/send", map[string]any{}); err != nil || status != http.StatusOK {
		b.fail(name, "", fmt.Errorf("send: HTTP %d %s %v", status, body, err))
		return
	}
	var c struct {
		Status   string         `json:"status"`
		Counters map[string]int `json:"counters"`
	}
	for c.Status != "sent" {
		if time.Since(start) > 10*time.Minute {
			b.fail(name, "", fmt.Errorf("campaign still %q after 10 min (%v)", c.Status, c.Counters))
			return
		}
		time.Sleep(100 * time.Millisecond)
		status, body, err := b.doJSON(http.MethodGet, "/api/collections/campaigns/records/"+id, nil)
		if err != nil || status != http.StatusOK || json.Unmarshal(body, &c) != nil {
			continue
		}
		if c.Status == "failed" || c.Status == "paused" || c.Status == "cancelled" {
			b.fail(name, "", fmt.Errorf("campaign ended %q (%v)", c.Status, c.Counters))
			return
		}
	}
	wall := time.Since(start)
	c1, _ := procIO(pid)
	sent := c.Counters["sent"]
	if sent == 0 {
		b.fail(name, "", fmt.Errorf("nothing sent (%v)", c.Counters))
		return
	}
	d := c1.sub(c0)
	wal := fileSize(filepath.Join(b.dataDir, "data.db-wal"))
	b.add(row{name, fmt.Sprintf("%s; measured: %s messages in %s, %s; WAL after: %s",
		d.scale(sendWritesTarget/float64(sent)), thousands(sent), wall.Round(time.Millisecond), human(d.write-d.cancelled), human(wal)),
		"", "", "", "reported"})
	b.notef("footprint: data.db %s, auxiliary.db (request logs, kept %s) %s after the runs",
		human(fileSize(filepath.Join(b.dataDir, "data.db"))), "7 days", human(fileSize(filepath.Join(b.dataDir, "auxiliary.db"))))
}

// selfApproval turns on campaigns.self_approval for the Bench workspace
// unless the send rows did already: the records the bench user reads are
// listed and looked at here (no filter text is built from values).
func (b *bench) selfApproval() error {
	status, body, err := b.doJSON(http.MethodGet, "/api/collections/system_settings/records?perPage=500&skipTotal=1", nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("system_settings: HTTP %d %s %v", status, body, err)
	}
	var page struct {
		Items []struct {
			ScopeID string `json:"scope_id"`
			Key     string `json:"setting_key"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return fmt.Errorf("system_settings: %w", err)
	}
	for _, it := range page.Items {
		if it.ScopeID == b.m.Workspace && it.Key == "campaigns.self_approval" {
			return nil
		}
	}
	status, body, err = b.doJSON(http.MethodPost, "/api/collections/system_settings/records",
		map[string]any{"scope": "workspace", "scope_id": b.m.Workspace, "setting_key": "campaigns.self_approval", "setting_value": true})
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("campaigns.self_approval: HTTP %d %s %v", status, body, err)
	}
	return nil
}
