// The layers' cost: the same one-round-trip chat, after the move, sent three ways in one process, interleaved
// request by request so that the shared machine's noise falls on every way alike:
//
//  1. net/http straight to the mock with the enterprise token (coze-go's request shape: JSON body,
//     Content-Type, Authorization, User-Agent and X-Coze-Client-User-Agent, decode {code,msg,data});
//  2. the same request through cozefallback.Transport under an http.Client (the drop-in for coze-go), with
//     no client timeout (as the Transport's doc shows) and with coze-go's default 5 s timeout;
//  3. Client.Do with the same body.
//
// Two diagnostics split the cost of 3: Client.Do with a context already cancelled (the Go side builds the C
// request and frees it; nothing is sent) and Client.Do of a URL on another host (refused inside the core's
// blocking call before any I/O: the fixed cost of one blocking call, its thread handoffs and the error).
//
// After the first call the client is sticky to the enterprise credential, so every way is one round trip.
// BENCH_CPUPROFILE=file writes a CPU profile of the Transport way alone (run after the timed rounds).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"sort"
	"time"

	cozefallback "github.com/cozefallback/cozefallback-go"
)

// cozeGoChat sends one chat the way coze-go's request.go does and decodes the answer.
func cozeGoChat(ctx context.Context, hc *http.Client, url, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "cozego/0.0.0 go/go1.22 linux/amd64")
	req.Header.Set("X-Coze-Client-User-Agent", `{"version":"0.0.0","lang":"go","lang_version":"go1.22","os_name":"linux"}`)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeAnswer(resp.Body)
}

func decodeAnswer(r io.Reader) error {
	var a cozeAnswer
	if err := json.NewDecoder(r).Decode(&a); err != nil {
		return err
	}
	if a.Code != 0 {
		return fmt.Errorf("code %d: %s", a.Code, a.Msg)
	}
	return nil
}

type way struct {
	name string
	call func() error
	d    []time.Duration
}

func stats(d []time.Duration) (p50, mean time.Duration) {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return s[len(s)/2], sum / time.Duration(len(s))
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func overhead(client *cozefallback.Client, base, enterprise string, n, rounds int) {
	ctx := context.Background()
	body, _ := json.Marshal(chatBody())
	url := base + "/v3/chat"
	direct := &http.Client{Timeout: 5 * time.Second} // coze-go's default client
	viaTransport := &http.Client{Transport: &cozefallback.Transport{Client: client}}
	viaTransportTimeout := &http.Client{Transport: &cozefallback.Transport{Client: client}, Timeout: 5 * time.Second}
	dead, kill := context.WithCancel(ctx)
	kill()
	ways := []*way{
		{name: "net/http direct", call: func() error { return cozeGoChat(ctx, direct, url, enterprise, body) }},
		{name: "Transport", call: func() error { return cozeGoChat(ctx, viaTransport, url, "unused", body) }},
		{name: "Transport, 5 s client timeout", call: func() error { return cozeGoChat(ctx, viaTransportTimeout, url, "unused", body) }},
		{name: "Client.Do", call: func() error {
			resp, err := client.Do(ctx, &cozefallback.Request{Method: "POST", Path: "/v3/chat", Body: body, ContentType: "application/json"})
			if err != nil {
				return err
			}
			return decodeAnswer(bytes.NewReader(resp.Body))
		}},
		{name: "diagnostic: Client.Do with the context cancelled (build only)", call: func() error {
			_, err := client.Do(dead, &cozefallback.Request{Method: "POST", Path: "/v3/chat", Body: body, ContentType: "application/json"})
			if err == nil {
				return fmt.Errorf("sent")
			}
			return nil
		}},
		{name: "diagnostic: Client.Do refused before any I/O", call: func() error {
			_, err := client.Do(ctx, &cozefallback.Request{Method: "POST", Path: "http://127.0.0.2:1/v3/chat", Body: body, ContentType: "application/json"})
			if err == nil {
				return fmt.Errorf("sent")
			}
			return nil
		}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	run := func(n int) {
		for _, w := range ways {
			w.d = w.d[:0]
		}
		order := make([]int, len(ways))
		for i := range order {
			order[i] = i
		}
		for i := 0; i < n; i++ {
			// A new order every time: no way always runs first or always follows the same other way.
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			for _, j := range order {
				w := ways[j]
				t := time.Now()
				if err := w.call(); err != nil {
					fmt.Fprintf(os.Stderr, "%s: request failed: %v\n", w.name, err)
					os.Exit(1)
				}
				w.d = append(w.d, time.Since(t))
			}
		}
	}
	run(200) // warm-up: connections, the token cache, the sticky route
	fmt.Printf("Go, layers' cost after the move: POST /v3/chat, one round trip each, %d requests per way per round, interleaved, %d rounds\n", n, rounds)
	p50r := make([][]float64, len(ways))
	meanr := make([][]float64, len(ways))
	for r := 1; r <= rounds; r++ {
		run(n)
		bp50, bmean := stats(ways[0].d)
		fmt.Printf("  round %d: %s p50 %v mean %v", r, ways[0].name, bp50.Round(100*time.Nanosecond), bmean.Round(100*time.Nanosecond))
		for k, w := range ways[1:] {
			p50, mean := stats(w.d)
			rp, rm := float64(p50)/float64(bp50), float64(mean)/float64(bmean)
			p50r[k+1] = append(p50r[k+1], rp)
			meanr[k+1] = append(meanr[k+1], rm)
			fmt.Printf(" | %s p50 %v (%.2fx) mean %v (%.2fx)", w.name, p50.Round(100*time.Nanosecond), rp, mean.Round(100*time.Nanosecond), rm)
		}
		fmt.Println()
	}
	fmt.Println("ratio to net/http direct, median of rounds:")
	for k, w := range ways[1:] {
		fmt.Printf("  %-66s p50 %.3fx  mean %.3fx\n", w.name, median(p50r[k+1]), median(meanr[k+1]))
	}
	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		for i := 0; i < 5*n; i++ {
			if err := ways[1].call(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		pprof.StopCPUProfile()
		f.Close()
		fmt.Printf("CPU profile of %d Transport calls: %s\n", 5*n, path)
	}
}
