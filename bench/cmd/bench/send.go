package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The send benchmark (issue 14): a campaign to every contact of the Bench
// workspace through the real server's API (create, submit, approve with the
// workspace's campaigns.self_approval, send), polled until "sent": (a) to the
// outbox, (b) to a zero-latency SMTP sink (bench/cmd/smtpsink) through the
// smtp provider with 10 connections. Messages per second = sent ledger rows
// / wall time from the send request to the poll that saw "sent"; peak RSS =
// the server's VmHWM over that time (reset before). Afterwards the ledger is
// checked in the database: one final row per recipient, (outbox) one outbox
// message per sent row, (smtp) the sink's count equals the sent rows.

const (
	listmonkRate  = 4824.0 // msg/s, listmonk v6.2.0 + PostgreSQL 15 to such a sink, concurrency 10
	sinkConns     = 10
	outboxTarget  = "≥ 5,000 msg/s"
	smtpTarget    = "≥ 4,800 msg/s at ≤ 100 MB RSS"
	sendPollEvery = 50 * time.Millisecond
)

// benchBody is a ~3 kB newsletter with 9 placeholders and the unsubscribe
// link, the kind of body a campaign sends.
const benchBody = `<!doctype html><html><head><meta charset="utf-8"><title>{{first_name}}, the December news</title></head>
<body style="margin:0;padding:0;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#ffffff;margin:24px 0">
<tr><td style="padding:24px 32px;border-bottom:1px solid #eeeeee"><h1 style="margin:0;font-size:22px;color:#222">The December letter</h1></td></tr>
<tr><td style="padding:24px 32px;color:#333;font-size:15px;line-height:1.6">
<p>Hello {{first_name | default "there"}} {{last_name}},</p>
<p>Thank you for being with us this year. As a {{custom.tier | default "valued"}} member you get first access to everything
below, and your account manager at {{company | default "our team"}} has prepared a short summary of what changed for you.</p>
<p>This month we shipped faster search, campaign approvals and a cleaner contact page. Lists can now be combined with field
conditions, so a segment such as "gold customers who have not ordered since the summer" takes a minute to build, and the
audience count updates as you type. Every campaign is approved before it goes out, and every message is in the ledger.</p>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="margin:16px 0"><tr>
<td style="padding:12px;background:#fafafa;border:1px solid #eeeeee"><strong>Your lead score</strong><br>{{custom.lead_score}}</td>
<td style="padding:12px;background:#fafafa;border:1px solid #eeeeee"><strong>Where you came from</strong><br>{{custom.source | default "—"}}</td>
</tr></table>
<p>Winter hours: we answer every message within one working day between 8:00 and 18:00, Monday to Friday. Write back to this
email, or call the number on your invoice. If your address is out of date ({{email}}), tell us and we will fix it.</p>
<p style="margin:24px 0"><a href="https://example.com/december" style="background:#2255cc;color:#ffffff;padding:12px 20px;text-decoration:none;border-radius:4px">Read the whole letter</a></p>
<p>Warm regards,<br>The team</p>
</td></tr>
<tr><td style="padding:16px 32px;color:#888;font-size:12px;border-top:1px solid #eeeeee">You receive this because you are a
contact of ours. <a href="{{unsubscribe_url}}" style="color:#888">Unsubscribe</a> at any time with one click.</td></tr>
</table></td></tr></table></body></html>`

// sendRun is one campaign's measurement.
type sendRun struct {
	id            string
	recipients    int // the audience (GET …/audience count)
	wall          time.Duration
	serverWall    time.Duration // started_at → finished_at
	peak          int
	sent, skipped int
	counters      map[string]int
	err           error
}

func (r sendRun) rate() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.sent) / r.wall.Seconds()
}

// send: the two campaigns and their rows.
func (b *bench) send() {
	logf("bench: send (campaigns to the outbox and to an SMTP sink)")
	outName := "send a campaign to every contact, outbox (msg/s, send → sent)"
	smtpName := "send a campaign to every contact, SMTP sink, 10 connections (msg/s, send → sent)"
	if !b.routeExists(http.MethodPost, "/api/crm/campaigns/bench-no-such/submit", map[string]any{}) ||
		!b.routeExists(http.MethodGet, "/api/crm/workspaces/"+b.m.Workspace+"/providers/smtp", nil) {
		b.add(row{outName, notBuilt, outboxTarget, "", "", notBuilt})
		b.add(row{smtpName, notBuilt, smtpTarget, "", "", notBuilt})
		return
	}
	tpl, err := b.sendSetup()
	if err != nil {
		b.fail(outName, outboxTarget, err)
		b.fail(smtpName, smtpTarget, err)
		return
	}
	ref := fmt.Sprintf("listmonk v6.2.0 + PostgreSQL, SMTP sink, concurrency 10: %s msg/s (106 MB RSS + ~175 MB PostgreSQL)", thousands(int(listmonkRate)))

	logf("bench: send to the outbox")
	out := b.sendCampaign("outbox", tpl)
	if out.err != nil {
		b.fail(outName, outboxTarget, out.err)
	} else {
		b.add(row{outName, b.sendFigure(out), outboxTarget, ref, ratio(out.rate() / listmonkRate), verdict(out.rate() >= 5000)})
		b.checkLedger("outbox", out, -1)
	}

	logf("bench: send to the SMTP sink")
	sink, err := startSink(b.cfg.SinkBin, filepath.Join(b.runDir, "smtpsink.log"))
	if err != nil {
		b.fail(smtpName, smtpTarget, err)
		return
	}
	defer sink.stop()
	conc, err := b.configureSMTP(sink)
	if err != nil {
		b.fail(smtpName, smtpTarget, err)
		return
	}
	if conc != sinkConns {
		smtpName = fmt.Sprintf("send a campaign to every contact, SMTP sink, %d connections (msg/s, send → sent)", conc)
	}
	before, _ := sink.count()
	sm := b.sendCampaign("smtp", tpl)
	if sm.err != nil {
		b.fail(smtpName, smtpTarget, sm.err)
		return
	}
	after, err := sink.count()
	if err != nil {
		b.notef("smtp sink: status unreadable: %v", err)
	}
	b.add(row{smtpName, b.sendFigure(sm), smtpTarget, ref, ratio(sm.rate() / listmonkRate),
		verdict(sm.rate() >= 4800 && sm.peak > 0 && sm.peak <= 100*1024)})
	b.checkLedger("smtp", sm, after-before)
}

func (b *bench) sendFigure(r sendRun) string {
	return fmt.Sprintf("%s msg/s (%s sent in %s; server %s), peak RSS %s", thousands(int(r.rate()+0.5)), thousands(r.sent),
		ms(r.wall), ms(r.serverWall), mb(r.peak))
}

// sendSetup turns self-approval on for the Bench workspace and creates the
// template.
func (b *bench) sendSetup() (string, error) {
	ws := b.m.Workspace
	status, body, err := b.doJSON(http.MethodPost, "/api/collections/system_settings/records",
		map[string]any{"scope": "workspace", "scope_id": ws, "setting_key": "campaigns.self_approval", "setting_value": true})
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("campaigns.self_approval: HTTP %d %s %v", status, body, err)
	}
	status, body, err = b.doJSON(http.MethodPost, "/api/collections/templates/records", map[string]any{
		"workspace": ws, "name": "Bench newsletter", "channel": "email",
		"subject": "{{first_name}}, the December news", "body_html": benchBody})
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("template: HTTP %d %s %v", status, body, err)
	}
	return findID(body), nil
}

// configureSMTP points the workspace's smtp provider at the sink: no TLS,
// unlimited rate, sinkConns connections. It answers the connections the
// provider kept.
func (b *bench) configureSMTP(s *sinkProc) (int, error) {
	host, port, _ := strings.Cut(s.smtp, ":")
	p, _ := strconv.Atoi(port)
	status, body, err := b.doJSON(http.MethodPut, "/api/crm/workspaces/"+b.m.Workspace+"/providers/smtp", map[string]any{
		"host": host, "port": p, "tls": "none", "from": "Bench <bench@example.com>", "rate_per_second": 0, "daily_limit": 0,
		"concurrency": sinkConns})
	if err != nil || status != http.StatusOK {
		return 0, fmt.Errorf("PUT providers/smtp: HTTP %d %s %v", status, body, err)
	}
	var r struct {
		Concurrency int `json:"concurrency"`
		Settings    struct {
			Concurrency int `json:"concurrency"`
		} `json:"settings"`
	}
	_ = json.Unmarshal(body, &r)
	switch {
	case r.Concurrency > 0:
		return r.Concurrency, nil
	case r.Settings.Concurrency > 0:
		return r.Settings.Concurrency, nil
	}
	b.notef("PUT providers/smtp did not echo the concurrency (asked for %d): %s", sinkConns, oneLine(string(body)))
	return sinkConns, nil
}

// sendCampaign creates a campaign to the whole workspace with provider,
// takes it through submit, approve and send, and polls it until sent.
func (b *bench) sendCampaign(provider, tpl string) sendRun {
	var r sendRun
	status, body, err := b.doJSON(http.MethodPost, "/api/collections/campaigns/records", map[string]any{
		"workspace": b.m.Workspace, "name": "Bench " + provider, "type": "email", "template": tpl, "provider": provider})
	if err != nil || status != http.StatusOK {
		r.err = fmt.Errorf("create campaign: HTTP %d %s %v", status, body, err)
		return r
	}
	r.id = findID(body)
	act := func(action string) error {
		status, body, err := b.doJSON(http.MethodPost, "/api/crm/campaigns/"+r.id+"/"+action, map[string]any{})
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d %s %v", action, status, body, err)
		}
		return nil
	}
	for _, a := range []string{"submit", "approve"} {
		if r.err = act(a); r.err != nil {
			return r
		}
	}
	status, body, err = b.doJSON(http.MethodGet, "/api/crm/campaigns/"+r.id+"/audience?sample=0", nil)
	if err == nil && status == http.StatusOK {
		var a struct {
			Count int `json:"count"`
		}
		_ = json.Unmarshal(body, &a)
		r.recipients = a.Count
	}

	pid := b.srv.pid()
	time.Sleep(2 * time.Second) // what the previous phase left is collected before the peak is reset
	_ = resetPeak(pid)
	start := time.Now()
	if r.err = act("send"); r.err != nil {
		return r
	}
	deadline := start.Add(time.Duration(max(120, b.m.N/200)) * time.Second) // a 200 msg/s floor
	var c struct {
		Status       string         `json:"status"`
		StatusReason string         `json:"status_reason"`
		Counters     map[string]int `json:"counters"`
		StartedAt    string         `json:"started_at"`
		FinishedAt   string         `json:"finished_at"`
	}
	for {
		status, body, err := b.doJSON(http.MethodGet, "/api/collections/campaigns/records/"+r.id, nil)
		if err == nil && status == http.StatusOK && json.Unmarshal(body, &c) == nil {
			if c.Status == "sent" || c.Status == "failed" || c.Status == "paused" || c.Status == "cancelled" {
				break
			}
		}
		if time.Now().After(deadline) {
			r.err = fmt.Errorf("campaign still %q after %s (counters %v)", c.Status, time.Since(start).Round(time.Second), c.Counters)
			return r
		}
		time.Sleep(sendPollEvery)
	}
	r.wall = time.Since(start)
	r.peak, _ = procStatus(pid, "VmHWM")
	r.counters = c.Counters
	r.sent, r.skipped = c.Counters["sent"], c.Counters["skipped"]
	if c.Status != "sent" {
		r.err = fmt.Errorf("campaign ended %q: %s (counters %v)", c.Status, c.StatusReason, c.Counters)
		return r
	}
	if s, f := parseTime(c.StartedAt), parseTime(c.FinishedAt); !s.IsZero() && !f.IsZero() {
		r.serverWall = f.Sub(s)
	}
	logf("bench: %s: %d sent in %s (%.0f msg/s), peak RSS %d MB", provider, r.sent, r.wall.Round(time.Millisecond), r.rate(), r.peak/1024)
	return r
}

func parseTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.000Z", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// checkLedger reads the run's ledger in the database (read-only, beside the
// running server): one final row per recipient, the sent rows' messages (the
// outbox's rows, or the sink's count when sink >= 0).
func (b *bench) checkLedger(provider string, r sendRun, sink int64) {
	db, err := sql.Open("sqlite", filepath.Join(b.dataDir, "data.db")+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		b.notef("send (%s): ledger check: %v", provider, err)
		return
	}
	defer db.Close()
	q := func(query string) int {
		var n int
		if err := db.QueryRow(query, r.id).Scan(&n); err != nil {
			b.notef("send (%s): ledger check %q: %v", provider, query, err)
			return -1
		}
		return n
	}
	rows := q("SELECT count(*) FROM campaign_deliveries WHERE campaign = ?")
	contacts := q("SELECT count(DISTINCT contact) FROM campaign_deliveries WHERE campaign = ?")
	open := q("SELECT count(*) FROM campaign_deliveries WHERE campaign = ? AND status IN ('queued', 'sending', 'unknown')")
	sent := q("SELECT count(*) FROM campaign_deliveries WHERE campaign = ? AND status = 'sent'")
	failed := q("SELECT count(*) FROM campaign_deliveries WHERE campaign = ? AND status = 'failed'")
	ws := q("SELECT count(*) FROM contacts WHERE workspace = (SELECT workspace FROM campaigns WHERE id = ?)")
	ok := rows == ws && contacts == rows && open == 0 && sent == r.sent && sent+r.skipped+failed == rows
	detail := fmt.Sprintf("%s contacts in the workspace, audience %s; ledger: %s rows for %s distinct contacts, %s sent, %d skipped, %d failed, %d not final",
		thousands(ws), thousands(r.recipients), thousands(rows), thousands(contacts), thousands(sent), r.skipped, failed, open)
	if provider == "outbox" {
		msgs := q("SELECT count(*) FROM outbox_messages WHERE campaign = ?")
		doubled := q("SELECT count(*) FROM (SELECT delivery FROM outbox_messages WHERE campaign = ? GROUP BY delivery HAVING count(*) > 1)")
		matched := q(`SELECT count(*) FROM campaign_deliveries d JOIN outbox_messages o ON o.delivery = d.id AND o.id = d.provider_message_id
			WHERE d.campaign = ? AND d.status = 'sent'`)
		ok = ok && msgs == sent && doubled == 0 && matched == sent
		detail += fmt.Sprintf("; outbox: %s messages, %d deliveries with more than one, %s matching their sent row's provider id", thousands(msgs), doubled, thousands(matched))
	} else {
		ok = ok && sink == int64(sent)
		detail += fmt.Sprintf("; the SMTP sink received %s messages", thousands(int(sink)))
	}
	verdictText := "every recipient has exactly one final ledger row and one message"
	if !ok {
		verdictText = "**LEDGER CHECK FAILED**"
	}
	b.notef("send (%s): %s: %s", provider, verdictText, detail)
}

// sinkProc is a running bench/cmd/smtpsink.
type sinkProc struct {
	cmd          *exec.Cmd
	smtp, status string
	exited       chan error
	log          *os.File
}

func startSink(bin, logPath string) (*sinkProc, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("SMTP sink %s not built (go build -o %s ./bench/cmd/smtpsink)", bin, bin)
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	s := &sinkProc{cmd: cmd, exited: make(chan error, 1), log: lf}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			if first {
				line <- sc.Text()
				first = false
				continue
			}
			fmt.Fprintln(lf, sc.Text())
		}
		s.exited <- cmd.Wait()
	}()
	select {
	case l := <-line:
		// "smtp HOST:PORT status URL"
		f := strings.Fields(l)
		if len(f) != 4 {
			s.stop()
			return nil, fmt.Errorf("SMTP sink: unexpected first line %q", l)
		}
		s.smtp, s.status = f[1], f[3]
		return s, nil
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, fmt.Errorf("SMTP sink did not start within 10 s")
	}
}

func (s *sinkProc) count() (int64, error) {
	resp, err := http.Get(s.status)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var c struct {
		Messages int64 `json:"messages"`
	}
	err = json.NewDecoder(resp.Body).Decode(&c)
	return c.Messages, err
}

func (s *sinkProc) stop() {
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.log.Close()
}
