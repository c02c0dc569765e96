package cozefallback_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The coze-mock binary, started once for the whole test binary (COZE_MOCK_BIN, else the workspace's debug build).
var mockURL string
var mockInfo map[string]any

func TestMain(m *testing.M) {
	bin := os.Getenv("COZE_MOCK_BIN")
	if bin == "" {
		bin = "../target/x86_64-unknown-linux-gnu/debug/coze-mock"
	}
	dir, err := os.MkdirTemp("", "cozefallback-go-mock")
	if err != nil {
		panic(err)
	}
	portFile := filepath.Join(dir, "port")
	cmd := exec.Command(bin, "--port-file", portFile, "--keys-dir", dir)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "cannot start the mock %s: %v (build it with cargo build -p coze-mock)\n", bin, err)
		os.Exit(2)
	}
	for i := 0; i < 300; i++ {
		if b, err := os.ReadFile(portFile); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			mockURL = "http://127.0.0.1:" + strings.TrimSpace(string(b))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	code := 2
	if mockURL != "" {
		if err := mockCall("GET", "/__mock/info", nil, &mockInfo); err == nil {
			code = m.Run()
		} else {
			fmt.Fprintln(os.Stderr, "mock info:", err)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	os.RemoveAll(dir)
	os.Exit(code)
}

func mockCall(method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, mockURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func infoString(key string) string {
	switch v := mockInfo[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func bot(i int) string {
	bots, _ := mockInfo["bots"].([]any)
	if i < len(bots) {
		return fmt.Sprint(bots[i])
	}
	return ""
}

func patConfig() string {
	return fmt.Sprintf(`{"base_url":%q,"personal":{"type":"pat","token":%q},"enterprise":{"type":"pat","token":%q},"retry":{"base_delay_ms":10,"max_delay_ms":50}}`,
		mockURL, infoString("personal_pat"), infoString("enterprise_pat"))
}
