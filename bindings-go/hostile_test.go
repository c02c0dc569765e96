package cozefallback_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	cf "github.com/cozefallback/cozefallback-go"
)

// Every number the Go API hands the library is range-checked and refused with the library's own error kind,
// never a panic. A time.Duration is an int64 of nanoseconds, so NaN, infinities, 1e30 and 2**64 cannot be
// written as one: the table uses the extremes it can hold instead. The configuration's numbers travel as JSON,
// where every one of them can be written.
func TestHostileTimeoutsAreInvalidArguments(t *testing.T) {
	c := newClient(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		want    string
	}{
		{"-1ns", -1, "got -1ns"},
		{"-1s", -time.Second, "got -1s"},
		{"MinInt64", math.MinInt64, "got -2562047h47m16.854775808s"},
		{"MaxInt64", math.MaxInt64, "got 9223372036854"},
		{"one day and a millisecond", cf.MaxTimeout + time.Millisecond, "got 86400001"},
		{"a year", 365 * 24 * time.Hour, "got 31536000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := map[string]func() error{
				"Do": func() error {
					_, err := c.Do(context.Background(), &cf.Request{Path: "/v1/bots/" + bot(0), Timeout: tc.timeout})
					return err
				},
				"Stream": func() error {
					_, err := c.Stream(context.Background(), &cf.Request{Method: "POST", Path: "/v3/chat", JSON: chatBody(true), Timeout: tc.timeout})
					return err
				},
			}
			for name, call := range calls {
				err := call()
				var ia *cf.InvalidArgumentError
				if !errors.As(err, &ia) || cf.KindOf(err) != cf.KindInvalidArgument {
					t.Fatalf("%s: want *InvalidArgumentError, got %T %v", name, err, err)
				}
				if !strings.Contains(ia.Msg, "Request.Timeout") || !strings.Contains(ia.Msg, tc.want) {
					t.Fatalf("%s: the message must name Request.Timeout and the value (%q): %q", name, tc.want, ia.Msg)
				}
			}
		})
	}
	var stats map[string]any
	if err := mockCall("GET", "/__mock/stats", nil, &stats); err != nil {
		t.Fatal(err)
	}
	if total := stats["requests"].(map[string]any)["total"].(float64); total != 0 {
		t.Fatalf("a refused call reached the server: %v requests", total)
	}
	// In range, and the zero value, still work.
	for _, ok := range []time.Duration{0, time.Nanosecond * 0, 5 * time.Second, cf.MaxTimeout} {
		if _, err := c.Do(context.Background(), &cf.Request{Path: "/v1/bots/" + bot(0), Timeout: ok}); err != nil {
			t.Fatalf("Timeout %v: %v", ok, err)
		}
	}
}

func TestContextDeadlinesOfAnyDistanceNeverPanic(t *testing.T) {
	c := newClient(t)
	far, cancel := context.WithDeadline(context.Background(), time.Now().Add(math.MaxInt64))
	defer cancel()
	if _, err := c.Get(far, "/v1/bots/"+bot(0), nil); err != nil {
		t.Fatalf("a deadline centuries away is left to the context: %v", err)
	}
	past, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	_, err := c.Get(past, "/v1/bots/"+bot(0), nil)
	if !errors.Is(err, context.DeadlineExceeded) || cf.KindOf(err) != cf.KindTimeout {
		t.Fatalf("a deadline in the past: %T %v", err, err)
	}
}

func TestHostileConfigNumbersNameTheirField(t *testing.T) {
	base := func(extra string) string {
		return fmt.Sprintf(`{"base_url":%q,"personal":{"type":"pat","token":"pat_x"},%s}`, mockURL, extra)
	}
	values := []string{"0", "-1", "NaN", "Infinity", "-Infinity", "1e30", "18446744073709551616", "18446744073709551615", "1.5"}
	fields := map[string]string{
		"timeouts.total_ms":            `"timeouts":{"total_ms":%s}`,
		"timeouts.idle_ms":             `"timeouts":{"idle_ms":%s}`,
		"retry.base_delay_ms":          `"retry":{"base_delay_ms":%s}`,
		"retry.budget_per_10_requests": `"retry":{"budget_per_10_requests":%s}`,
		"fallback.sticky_ttl_secs":     `"fallback":{"sticky_ttl_secs":%s}`,
		"max_request_bytes":            `"max_request_bytes":%s`,
	}
	for field, shape := range fields {
		for _, v := range values {
			if v == "0" && !strings.HasPrefix(field, "timeouts.") && field != "max_request_bytes" {
				continue // 0 is a valid delay, budget and route lifetime
			}
			if v == "18446744073709551615" && field == "max_request_bytes" {
				continue // a byte count: any u64 is a number of bytes here
			}
			_, err := cf.NewFromJSON(base(fmt.Sprintf(shape, v)))
			var ce *cf.ConfigError
			if !errors.As(err, &ce) || ce.Field != field || !strings.Contains(ce.Msg, field) {
				t.Errorf("%s=%s: want a *ConfigError naming %s, got %T %v", field, v, field, err, err)
			}
		}
	}
	// The same through the Config struct: the largest uint64 of each numeric field.
	huge := uint64(math.MaxUint64)
	for field, cfg := range map[string]cf.Config{
		"timeouts.connect_ms":      {Timeouts: &cf.TimeoutConfig{ConnectMs: huge}},
		"timeouts.first_byte_ms":   {Timeouts: &cf.TimeoutConfig{FirstByteMs: huge}},
		"retry.max_delay_ms":       {Retry: &cf.RetryConfig{MaxDelayMs: huge}},
		"fallback.sticky_ttl_secs": {Fallback: &cf.FallbackConfig{StickyTTLSecs: cf.Ptr(huge)}},
		"personal.expires_at": {Personal: &cf.Credential{Type: "oauth", ClientID: "1", AccessToken: "czu_abc",
			ExpiresAt: huge}},
		"personal.ttl_secs": {Personal: &cf.Credential{Type: "jwt", ClientID: "1", PublicKeyID: "k",
			PrivateKeyFile: infoString("private_key_file"), TTLSecs: huge}},
	} {
		cfg.BaseURL = mockURL
		if cfg.Personal == nil {
			cfg.Personal = cf.PAT("pat_x")
		}
		_, err := cf.New(cfg)
		var ce *cf.ConfigError
		if !errors.As(err, &ce) || ce.Field != field {
			t.Errorf("%s=2**64-1: want a *ConfigError naming it, got %T %v", field, err, err)
		}
	}
}

func TestPreviousErrorKeepsItsAttempts(t *testing.T) {
	c := newClient(t)
	_, err := c.Get(context.Background(), "/v1/bots/7359999999999999999", nil)
	var api, prev *cf.APIError
	if !errors.As(err, &api) || !errors.As(api.Previous, &prev) {
		t.Fatalf("%T %v", err, err)
	}
	if api.Attempts != 2 || prev.Attempts != 1 || prev.Credential != "personal" {
		t.Fatalf("attempts: outer %d, previous %d (%s)", api.Attempts, prev.Attempts, prev.Credential)
	}
}
