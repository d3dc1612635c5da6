package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// bundle lays out what a shop owner copies to the Pi (make pi-bundle): the
// scripts and the unit next to the binaries.
func bundle(t *testing.T, binaries map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"install.sh", "pi-crm.service", "pi-crm-ctl"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if f != "pi-crm.service" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, mode); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range binaries {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// install runs the bundle's install.sh under root with systemctl, useradd
// and runuser on PATH as traps: in PICRM_ROOT mode none may run.
func install(t *testing.T, dir, root string, args ...string) string {
	t.Helper()
	traps := t.TempDir()
	for _, tool := range []string{"systemctl", "useradd", "runuser", "chown"} {
		if err := os.WriteFile(filepath.Join(traps, tool), []byte("#!/bin/sh\necho \"$0 called\" >&2\nexit 99\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := exec.Command("sh", append([]string{filepath.Join(dir, "install.sh")}, args...)...)
	c.Env = append(os.Environ(), "PICRM_ROOT="+root, "PATH="+traps+":"+os.Getenv("PATH"))
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A first install lays down the binary, pi-crm-ctl, the unit and an
// environment file (mode 0600) with a new 32-character key; an update keeps
// the key and the binary it replaces; --rollback puts that one back.
func TestInstallUpdateRollback(t *testing.T) {
	dir := bundle(t, map[string][]byte{"v1": []byte("#!/bin/sh\necho v1\n"), "v2": []byte("#!/bin/sh\necho v2\n")})
	root := t.TempDir()
	install(t, dir, root, filepath.Join(dir, "v1"))

	bin := filepath.Join(root, "usr/local/bin/pi-crm")
	if read(t, bin) != "#!/bin/sh\necho v1\n" {
		t.Fatal("the binary was not installed")
	}
	if read(t, filepath.Join(root, "etc/systemd/system/pi-crm.service")) != read(t, "pi-crm.service") {
		t.Error("the installed unit differs from deploy/pi-crm.service")
	}
	if read(t, filepath.Join(root, "usr/local/bin/pi-crm-ctl")) != read(t, "pi-crm-ctl") {
		t.Error("pi-crm-ctl not installed")
	}
	envPath := filepath.Join(root, "etc/pi-crm/pi-crm.env")
	st, err := os.Stat(envPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("env file: %v %v", err, st.Mode())
	}
	env := read(t, envPath)
	key := regexp.MustCompile(`(?m)^PICRM_ENCRYPTION_KEY=([A-Za-z0-9_-]{32})$`).FindStringSubmatch(env)
	if key == nil || !strings.Contains(env, `PICRM_SERVE_ARGS="--http 0.0.0.0:8090"`) {
		t.Fatalf("env file:\n%s", env)
	}
	if st, err := os.Stat(filepath.Join(root, "var/lib/pi-crm")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
		t.Fatalf("data directory: %v %v", err, st)
	}

	install(t, dir, root, filepath.Join(dir, "v2"))
	if read(t, bin) != "#!/bin/sh\necho v2\n" || read(t, bin+".previous") != "#!/bin/sh\necho v1\n" {
		t.Fatal("the update did not keep the previous binary")
	}
	if read(t, envPath) != env {
		t.Fatal("the update rewrote the environment file (its key encrypts the stored settings)")
	}

	out := install(t, dir, root, "--rollback")
	if read(t, bin) != "#!/bin/sh\necho v1\n" || !strings.Contains(out, "back on the previous binary") {
		t.Fatalf("rollback: %s", out)
	}
	c := exec.Command("sh", filepath.Join(dir, "install.sh"), "--rollback")
	c.Env = append(os.Environ(), "PICRM_ROOT="+root)
	if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), "no previous binary") {
		t.Fatalf("a second rollback: %v %s", err, out)
	}
}
