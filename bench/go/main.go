// bench/go: Go through cozefallback vs the migration guide's hand-written retry (personal first, enterprise on 4100/4101),
// after the move, on the same coze-mock, in interleaved rounds. Prints time per request and the ratio.
//
// The migration guide's code uses github.com/coze-dev/coze-go; its chat call is one JSON POST through net/http
// (request.go: json.Marshal, http.Client.Do, decode {code,msg,data}). The baseline here is that same path
// written with net/http directly, with the migration guide's retry around it (see README.md for why).
//
// A second part (overhead.go) measures what the layers cost against net/http on the same one round trip.
//
// Env: COZE_API_BASE, COZE_API_TOKEN, COZE_API_TOKEN_ENTERPRISE, BENCH_BOT, BENCH_N, BENCH_ROUNDS,
// BENCH_PART ("guide", "overhead", or both when unset; the overhead part takes BENCH_OVERHEAD_N, default 2000),
// BENCH_CPUPROFILE.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"time"

	cozefallback "github.com/cozefallback/cozefallback-go"
)

func chatBody() map[string]any {
	return map[string]any{
		"bot_id": os.Getenv("BENCH_BOT"), "user_id": "bench", "stream": false,
		"additional_messages": []map[string]any{{"role": "user", "content": "hi", "content_type": "text"}},
	}
}

type cozeAnswer struct {
	Code int64           `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

// seedChat is the migration guide's recipe: try the personal token; on 4100/4101 try the enterprise one.
func seedChat(ctx context.Context, hc *http.Client, base, personal, enterprise string) error {
	once := func(token string) (*cozeAnswer, error) {
		body, _ := json.Marshal(chatBody())
		req, err := http.NewRequestWithContext(ctx, "POST", base+"/v3/chat", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var a cozeAnswer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			return nil, err
		}
		return &a, nil
	}
	a, err := once(personal)
	if err != nil {
		return err
	}
	if a.Code == 4100 || a.Code == 4101 {
		if a, err = once(enterprise); err != nil {
			return err
		}
	}
	if a.Code != 0 {
		return fmt.Errorf("code %d: %s", a.Code, a.Msg)
	}
	return nil
}

func measure(n int, f func() error) (p50, mean time.Duration) {
	s := make([]time.Duration, n)
	start := time.Now()
	for i := range s {
		t := time.Now()
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "request failed:", err)
			os.Exit(1)
		}
		s[i] = time.Since(t)
	}
	total := time.Since(start)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[n/2], total / time.Duration(n)
}

func main() {
	base, personal, enterprise := os.Getenv("COZE_API_BASE"), os.Getenv("COZE_API_TOKEN"), os.Getenv("COZE_API_TOKEN_ENTERPRISE")
	n, _ := strconv.Atoi(os.Getenv("BENCH_N"))
	if n == 0 {
		n = 1000
	}
	rounds, _ := strconv.Atoi(os.Getenv("BENCH_ROUNDS"))
	if rounds == 0 {
		rounds = 5
	}
	client, err := cozefallback.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer client.Close()
	hc := &http.Client{Timeout: 5 * time.Second} // coze-go's default client
	ctx := context.Background()
	part := os.Getenv("BENCH_PART")
	if part == "" || part == "overhead" {
		on, _ := strconv.Atoi(os.Getenv("BENCH_OVERHEAD_N"))
		if on == 0 {
			on = 2000
		}
		overhead(client, base, enterprise, on, rounds)
	}
	if part != "" && part != "guide" {
		return
	}
	viaLib := func() error { _, err := client.PostJSON(ctx, "/v3/chat", chatBody()); return err }
	viaSeed := func() error { return seedChat(ctx, hc, base, personal, enterprise) }
	measure(100, viaLib)
	measure(100, viaSeed)
	fmt.Printf("Go, after the move: POST /v3/chat, %d requests per run, %d interleaved rounds\n", n, rounds)
	var ratios []float64
	for r := 1; r <= rounds; r++ {
		lp50, lmean := measure(n, viaLib)
		sp50, smean := measure(n, viaSeed)
		ratio := float64(smean) / float64(lmean)
		ratios = append(ratios, ratio)
		fmt.Printf("  round %d: cozefallback %v/req (p50 %v) | guide's retry over net/http %v/req (p50 %v) | guide/cozefallback %.2fx\n",
			r, lmean.Round(time.Microsecond), lp50.Round(time.Microsecond), smean.Round(time.Microsecond), sp50.Round(time.Microsecond), ratio)
	}
	sort.Float64s(ratios)
	fmt.Printf("time per request, the guide's hand-written retry / cozefallback (median of rounds): %.2fx\n", ratios[len(ratios)/2])
}
