// Package deploy holds the Raspberry Pi deployment (pi-crm.service,
// install.sh, pi-crm-ctl) and the tests that check it: the unit verified by
// systemd-analyze, the script's files, and the arm64 binary run under qemu.
package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitKeys reads the unit's "Key=Value" lines (a key set twice keeps both).
func unitKeys(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("pi-crm.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not a key=value line: %q", line)
		}
		keys[k] = append(keys[k], v)
	}
	return keys
}

// systemd-analyze verify on the unit as shipped, under a root holding the
// binary at its ExecStart path (verify checks that it exists and is
// executable) and a copy of the machine's own system units (sysinit.target & co.).
// Any message fails: verify exits 0 on unknown keys and bad values, which it
// only prints. CI installs systemd when the command is missing (.ci/run).
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is missing (Debian package systemd; .ci/run installs it)")
	}
	root := t.TempDir()
	for _, d := range []string{"usr/local/bin", "etc/systemd/system", "usr/lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// a copy, not a symlink: the units' own absolute symlinks resolve under root
	units, err := filepath.EvalSymlinks("/lib/systemd/system")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", units, filepath.Join(root, "usr/lib/systemd/system")).CombinedOutput(); err != nil {
		t.Fatalf("copy the system units: %v %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/local/bin/pi-crm"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit, _ := os.ReadFile("pi-crm.service")
	path := filepath.Join(root, "etc/systemd/system/pi-crm.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--root="+root, path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// What the issue asks of the unit, so a later edit cannot drop it silently.
func TestUnitHardening(t *testing.T) {
	keys := unitKeys(t)
	want := map[string]string{
		"User":                  "pi-crm",
		"ProtectSystem":         "strict",
		"ReadWritePaths":        "/var/lib/pi-crm",
		"NoNewPrivileges":       "yes",
		"PrivateTmp":            "yes",
		"Restart":               "on-failure",
		"EnvironmentFile":       "/etc/pi-crm/pi-crm.env",
		"StateDirectory":        "pi-crm",
		"ProtectHome":           "yes",
		"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
	}
	for k, v := range want {
		if got := keys[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s=%v, want %s", k, got, v)
		}
	}
	exec := strings.Join(keys["ExecStart"], " ")
	for _, part := range []string{"/usr/local/bin/pi-crm serve", "--dir /var/lib/pi-crm", "--encryptionEnv PICRM_ENCRYPTION_KEY", "$PICRM_SERVE_ARGS"} {
		if !strings.Contains(exec, part) {
			t.Errorf("ExecStart %q lacks %q", exec, part)
		}
	}
}
