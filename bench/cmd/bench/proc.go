package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pi-crm/pi-crm/bench/gen"
)

func readManifest(dir string) (*gen.Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m gen.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.Version != gen.Version || m.SchemaKey != gen.SchemaKey() {
		return nil, errors.New("stale data set")
	}
	return &m, nil
}

// copyFile copies one file, keeping its mode.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyDir copies the data set's files so that a run (imports, merges)
// never changes the cached data set.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// server is a running `pi-crm serve`.
type server struct {
	cmd    *exec.Cmd
	base   string
	log    *os.File
	exited chan error // receives cmd.Wait's result
}

// startServer starts bin serve on dataDir and returns once /api/health
// answers 200, with the time that took (cold start to first 200).
func startServer(bin, dataDir, logPath string) (*server, time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin, "serve", "--http", addr, "--dir", dataDir)
	cmd.Stdout, cmd.Stderr = lf, lf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, 0, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, log: lf}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.base + "/api/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.exited = exited
				return s, time.Since(start), nil
			}
		}
		select {
		case err := <-exited:
			lf.Close()
			return nil, 0, fmt.Errorf("server exited before answering (%v); log: %s", err, logPath)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Since(start) > 60*time.Second {
			cmd.Process.Kill()
			lf.Close()
			return nil, 0, fmt.Errorf("server did not answer /api/health within 60s; log: %s", logPath)
		}
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// stop ends the server (SIGTERM, then SIGKILL after 10s).
func (s *server) stop() {
	if s == nil {
		return
	}
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.log.Close()
}

// procStatus reads a field (in kB) of /proc/PID/status: VmRSS is the
// resident set now, VmHWM its peak since start or since resetPeak.
func procStatus(pid int, field string) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// resetPeak resets VmHWM to the current RSS (Linux ≥ 4.0, clear_refs "5"),
// so that a peak can be read for one phase of the run.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0o200)
}

// runTimed runs a command to completion and returns its wall time and peak
// RSS in kB. The peak is the child's VmHWM, polled while it runs: the
// rusage of wait4 cannot be used, because Go starts children with vfork,
// and Linux then counts the parent's own peak (this harness's, which holds
// a generator run) in the child's ru_maxrss.
func runTimed(cmd *exec.Cmd) (time.Duration, int, error) {
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	peak := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if hwm, err := procStatus(cmd.Process.Pid, "VmHWM"); err == nil && hwm > peak {
			peak = hwm
		}
		select {
		case err := <-done:
			return time.Since(start), peak, err
		case <-tick.C:
		}
	}
}
