package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's Pi section on this machine: the arm64 binary (PICRM_ARM64_BIN,
// set by `make pi-test` after cross-compiling it) installed by install.sh
// under a scratch root, then run under qemu user emulation as on a Pi with a
// 64-bit OS: migrations, the demo, the server as the unit starts it (its
// ExecStart with the key from the installed environment file, on loopback)
// answering /api/health and serving the demo's contacts to a demo user; a
// backup while it serves, a restore refused while it serves and done once it
// has stopped; then an update by install.sh, which backs the data up first.
func TestArm64BinaryUnderQemu(t *testing.T) {
	bin := os.Getenv("PICRM_ARM64_BIN")
	if bin == "" {
		t.Skip("PICRM_ARM64_BIN is not set: `make pi-test` builds bin/pi-crm-linux-arm64 and runs this test")
	}
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		t.Fatal("qemu-aarch64 is missing (Debian package qemu-user; .ci/run installs it)")
	}
	arm64, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := bundle(t, map[string][]byte{"pi-crm-linux-arm64": arm64})
	root := t.TempDir()
	install(t, dir, root, filepath.Join(dir, "pi-crm-linux-arm64"))

	ctl := func(args ...string) (string, error) {
		c := exec.Command(filepath.Join(root, "usr/local/bin/pi-crm-ctl"), args...)
		c.Env = append(os.Environ(), "PICRM_ROOT="+root, "PICRM_EXEC="+qemu)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	start := time.Now()
	if out, err := ctl("migrate", "up"); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	t.Logf("migrations under qemu: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if out, err := ctl("demo"); err != nil || !strings.Contains(out, "contacts") {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	t.Logf("demo under qemu: %s", time.Since(start).Round(time.Millisecond))

	addr := freeAddr(t)
	args := execStart(t, root, addr)
	srv := exec.Command(qemu, args...)
	srv.Env = append(os.Environ(), envFile(t, filepath.Join(root, "etc/pi-crm/pi-crm.env"))...)
	logs, _ := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	srv.Stdout, srv.Stderr = logs, logs
	start = time.Now()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = srv.Process.Signal(syscall.SIGTERM)
			_ = srv.Wait()
		}
	}
	defer stop()
	base := "http://" + addr
	if err := waitHealthy(base, 120*time.Second); err != nil {
		b, _ := os.ReadFile(logs.Name())
		t.Fatalf("%v\n%s", err, b)
	}
	t.Logf("serve under qemu: healthy after %s", time.Since(start).Round(time.Millisecond))

	token := login(t, base, "andy@example.com", "pi-crm-demo")
	req, _ := http.NewRequest(http.MethodGet, base+"/api/collections/contacts/records?perPage=1", nil)
	req.Header.Set("Authorization", token)
	var page struct{ TotalItems int }
	getJSON(t, req, &page)
	if page.TotalItems == 0 {
		t.Fatal("the demo user sees no contacts")
	}

	if out, err := ctl("backup", "create", "under_qemu"); err != nil || !strings.Contains(out, "under_qemu.zip") {
		t.Fatalf("backup while serving: %v\n%s", err, out)
	}
	if out, err := ctl("backup", "restore", "under_qemu.zip"); err == nil || !strings.Contains(out, "data_dir_in_use") {
		t.Fatalf("a restore while the server runs was not refused: %v\n%s", err, out)
	}
	stop()
	if out, err := ctl("backup", "restore", "under_qemu.zip"); err != nil || !strings.Contains(out, "restored under_qemu.zip") {
		t.Fatalf("restore with the server stopped: %v\n%s", err, out)
	}

	// an update (the same binary again): a backup first, the old binary kept
	t.Setenv("PICRM_EXEC", qemu)
	out := install(t, dir, root, filepath.Join(dir, "pi-crm-linux-arm64"))
	if !strings.Contains(out, "before the update") {
		t.Fatalf("no backup before the update:\n%s", out)
	}
	if list, err := ctl("backup", "list"); err != nil || !strings.Contains(list, "before_update_") || !strings.Contains(list, "under_qemu.zip") {
		t.Fatalf("backups after the update: %v\n%s", err, list)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/pi-crm.previous")); err != nil {
		t.Fatal(err)
	}
}

// execStart is the installed unit's ExecStart for this scratch root: its
// paths under root, $PICRM_SERVE_ARGS a loopback address (the README's
// 0.0.0.0:8090 would open the port to the network).
func execStart(t *testing.T, root, addr string) []string {
	t.Helper()
	unit := read(t, filepath.Join(root, "etc/systemd/system/pi-crm.service"))
	for _, line := range strings.Split(unit, "\n") {
		cmd, ok := strings.CutPrefix(line, "ExecStart=")
		if !ok {
			continue
		}
		var args []string
		for _, f := range strings.Fields(cmd) {
			switch {
			case f == "$PICRM_SERVE_ARGS":
				args = append(args, "--http", addr)
			case strings.HasPrefix(f, "/"):
				args = append(args, filepath.Join(root, f))
			default:
				args = append(args, f)
			}
		}
		return args
	}
	t.Fatal("no ExecStart in the unit")
	return nil
}

// envFile reads KEY=VALUE lines as systemd's EnvironmentFile does (quotes
// around a value removed).
func envFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		env = append(env, k+"="+strings.Trim(v, `"`))
	}
	return env
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitHealthy(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/api/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("no healthy answer from %s within %s", base, limit)
}

func login(t *testing.T, base, email, password string) string {
	t.Helper()
	body := strings.NewReader(fmt.Sprintf(`{"identity":%q,"password":%q}`, email, password))
	req, _ := http.NewRequest(http.MethodPost, base+"/api/collections/users/auth-with-password", body)
	req.Header.Set("Content-Type", "application/json")
	var auth struct{ Token string }
	getJSON(t, req, &auth)
	if auth.Token == "" {
		t.Fatal("no token")
	}
	return auth.Token
}

func getJSON(t *testing.T, req *http.Request, v any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
