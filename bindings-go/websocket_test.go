package cozefallback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	cf "github.com/cozefallback/cozefallback-go"
)

var chatEvents = []string{
	"chat.created", "chat.updated", "conversation.chat.created", "conversation.chat.in_progress",
	"conversation.message.delta", "conversation.message.delta", "conversation.message.delta",
	"conversation.message.completed", "conversation.chat.completed",
}

func botQuery(i int) url.Values { return url.Values{"bot_id": {bot(i)}} }

func mockState(t *testing.T, state map[string]any) {
	t.Helper()
	if err := mockCall("POST", "/__mock/state", state, nil); err != nil {
		t.Fatal(err)
	}
}

// wsStats is the mock's record of the WebSocket sessions it served.
type wsStats struct {
	Handshakes   int            `json:"handshakes"`
	ByCredential map[string]int `json:"by_credential"`
	Sessions     []struct {
		Credential string           `json:"credential"`
		Outcome    string           `json:"outcome"`
		Status     int              `json:"status"`
		Code       int64            `json:"code"`
		Received   []map[string]any `json:"received"`
	} `json:"sessions"`
}

func mockWS(t *testing.T) wsStats {
	t.Helper()
	var stats struct {
		WebSocket wsStats `json:"websocket"`
	}
	if err := mockCall("GET", "/__mock/stats", nil, &stats); err != nil {
		t.Fatal(err)
	}
	return stats.WebSocket
}

// sendChat sends the two events of a text chat: a struct, and a map.
func sendChat(t *testing.T, s *cf.WebSocketSession) {
	t.Helper()
	type update struct {
		ID        string         `json:"id"`
		EventType string         `json:"event_type"`
		Data      map[string]any `json:"data"`
	}
	ctx := context.Background()
	if err := s.Send(ctx, update{"e1", "chat.update", map[string]any{"chat_config": map[string]any{"user_id": "user-1"}}}); err != nil {
		t.Fatal(err)
	}
	create := map[string]any{"id": "e2", "event_type": "conversation.message.create",
		"data": map[string]any{"role": "user", "content_type": "text", "content": "hi"}}
	if err := s.Send(ctx, create); err != nil {
		t.Fatal(err)
	}
}

// readUntil reads events until one named until; the error that ended the reading, if any.
func readUntil(s *cf.WebSocketSession, until string) ([]*cf.WebSocketEvent, error) {
	var got []*cf.WebSocketEvent
	for {
		ev, err := s.Next(context.Background())
		if err != nil {
			return got, err
		}
		got = append(got, ev)
		if ev.EventType == until {
			return got, nil
		}
	}
}

func names(evs []*cf.WebSocketEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventType
	}
	return out
}

func chatSession(t *testing.T, c *cf.Client, botIndex int) (*cf.WebSocketSession, []*cf.WebSocketEvent) {
	t.Helper()
	s, err := c.WebSocket(context.Background(), "/v1/chat", botQuery(botIndex))
	if err != nil {
		t.Fatalf("open: %T %v", err, err)
	}
	t.Cleanup(func() { s.Close() })
	sendChat(t, s)
	evs, err := readUntil(s, "conversation.chat.completed")
	if err != nil {
		t.Fatalf("after %v: %T %v", names(evs), err, err)
	}
	if strings.Join(names(evs), ",") != strings.Join(chatEvents, ",") {
		t.Fatalf("events %v, want %v", names(evs), chatEvents)
	}
	return s, evs
}

func TestWebSocketBeforeTheMove(t *testing.T) {
	c := newClient(t)
	s, evs := chatSession(t, c, 0)
	if s.Credential() != "personal" || s.Attempts() != 1 || s.EventsDelivered() != len(chatEvents) || s.LogID() == "" {
		t.Fatalf("credential %q attempts %d delivered %d logid %q", s.Credential(), s.Attempts(), s.EventsDelivered(), s.LogID())
	}
	var text strings.Builder
	for _, ev := range evs {
		if ev.IsBinary() || ev.ID == "" || ev.LogID() == "" || !json.Valid(ev.Raw) || !strings.Contains(string(ev.Raw), ev.EventType) {
			t.Fatalf("event %+v", ev)
		}
		if ev.EventType == "conversation.message.delta" {
			var d struct {
				Content string `json:"content"`
			}
			if err := ev.Decode(&d); err != nil {
				t.Fatal(err)
			}
			text.WriteString(d.Content)
		}
	}
	if text.String() != "hello" {
		t.Fatalf("the deltas say %q", text.String())
	}
	st := mockWS(t)
	if st.ByCredential["personal"] != 1 || st.ByCredential["enterprise"] != 0 || len(st.Sessions) != 1 || st.Sessions[0].Status != 101 {
		t.Fatalf("mock %+v", st)
	}
}

// After the move the personal session's first event is `error` 4101: the session reconnects with the
// enterprise credential and replays the held events in order; the caller never sees the refusal.
func TestWebSocketErrorFirstFallbackReplays(t *testing.T) {
	c := newClient(t)
	mockState(t, map[string]any{"moved": true})
	s, _ := chatSession(t, c, 0)
	if s.Credential() != "enterprise" || s.Attempts() != 2 {
		t.Fatalf("credential %q attempts %d", s.Credential(), s.Attempts())
	}
	st := mockWS(t)
	if len(st.Sessions) != 2 || st.Sessions[0].Outcome != "refused" || st.Sessions[0].Code != 4101 ||
		st.Sessions[1].Credential != "enterprise" || st.Sessions[1].Outcome != "upgraded" {
		t.Fatalf("mock sessions %+v", st.Sessions)
	}
	var ids []string
	for _, r := range st.Sessions[1].Received {
		ids = append(ids, r["id"].(string))
	}
	if strings.Join(ids, ",") != "e1,e2" {
		t.Fatalf("replayed %v, want e1,e2", ids)
	}
	// Sticky: the second session for the bot connects once, with the enterprise credential.
	s2, _ := chatSession(t, c, 0)
	if s2.Credential() != "enterprise" || s2.Attempts() != 1 {
		t.Fatalf("second session: credential %q attempts %d", s2.Credential(), s2.Attempts())
	}
}

func TestWebSocketRefusedHandshakeFallsBack(t *testing.T) {
	c := newClient(t)
	mockState(t, map[string]any{"moved": true, "personal_error_after_move": map[string]any{"code": 4100, "http_status": 401}})
	s, _ := chatSession(t, c, 0)
	if s.Credential() != "enterprise" || s.Attempts() != 2 {
		t.Fatalf("credential %q attempts %d", s.Credential(), s.Attempts())
	}
	if st := mockWS(t); len(st.Sessions) != 2 || st.Sessions[0].Outcome != "refused_handshake" || st.Sessions[0].Status != 401 {
		t.Fatalf("mock sessions %+v", st.Sessions)
	}
}

// A 403 without a Coze code means the account lacks the realtime APIs: no fallback, an *APIError.
func TestWebSocket403WithoutCodeIsNotAFallback(t *testing.T) {
	c := newClient(t)
	mockState(t, map[string]any{"faults": []any{map[string]any{"path": "/v1/chat", "credential": "personal",
		"action": map[string]any{"type": "http", "http_status": 403, "body": "Forbidden"}}}})
	s, err := c.WebSocket(context.Background(), "/v1/chat", botQuery(0))
	if s != nil {
		s.Close()
		t.Fatal("the session opened")
	}
	var api *cf.APIError
	if !errors.As(err, &api) || cf.KindOf(err) != cf.KindAPI || api.HTTPStatus != 403 || api.Code != 0 ||
		api.Credential != "personal" || api.Attempts != 1 || api.Previous != nil {
		t.Fatalf("%T %+v", err, err)
	}
	if st := mockWS(t); st.ByCredential["enterprise"] != 0 {
		t.Fatalf("the enterprise credential was tried: %+v", st)
	}
	if pat := infoString("personal_pat"); strings.Contains(err.Error(), pat) || strings.Contains(fmt.Sprintf("%+v", api), pat) {
		t.Fatalf("the error shows the token: %v", err)
	}
}

func TestWebSocketBothCredentialsRefuse(t *testing.T) {
	c := newClient(t)
	s, err := c.WebSocket(context.Background(), "/v1/chat", url.Values{"bot_id": {"7350000000000009999"}})
	if err == nil {
		defer s.Close()
		sendChat(t, s)
		var evs []*cf.WebSocketEvent
		evs, err = readUntil(s, "conversation.chat.completed")
		if len(evs) != 0 {
			t.Fatalf("events delivered: %v", names(evs))
		}
	}
	var api, prev *cf.APIError
	if !errors.As(err, &api) || api.Code != 4200 || api.Credential != "enterprise" ||
		!errors.As(api.Previous, &prev) || prev.Code != 4200 || prev.Credential != "personal" {
		t.Fatalf("%T %v", err, err)
	}
}

func TestWebSocketBreakAfterFirstEvent(t *testing.T) {
	c := newClient(t)
	mockState(t, map[string]any{"faults": []any{map[string]any{"path": "/v1/chat",
		"action": map[string]any{"type": "truncate_stream", "after_events": 2}}}})
	s, err := c.WebSocket(context.Background(), "/v1/chat", botQuery(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sendChat(t, s)
	evs, err := readUntil(s, "conversation.chat.completed")
	var si *cf.StreamInterruptedError
	if !errors.As(err, &si) || si.EventsDelivered != 2 || len(evs) != 2 || si.Credential != "personal" {
		t.Fatalf("%v: %T %+v", names(evs), err, err)
	}
	if st := mockWS(t); st.ByCredential["enterprise"] != 0 {
		t.Fatalf("replayed on the enterprise credential after an event: %+v", st)
	}

	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	mockState(t, map[string]any{"faults": []any{map[string]any{"path": "/v1/chat",
		"action": map[string]any{"type": "close_session", "after_events": 3, "code": 1011, "reason": "server overloaded"}}}})
	s2, err := c.WebSocket(context.Background(), "/v1/chat", botQuery(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	sendChat(t, s2)
	evs, err = readUntil(s2, "conversation.chat.completed")
	if !errors.As(err, &si) || si.EventsDelivered != 3 || len(evs) != 3 || s2.CloseCode() != 1011 || !strings.Contains(si.Error(), "1011") {
		t.Fatalf("%v close %d: %T %v", names(evs), s2.CloseCode(), err, err)
	}
}

func TestWebSocketContextCancelsTheHandshake(t *testing.T) {
	c := newClient(t)
	mockState(t, map[string]any{"faults": []any{map[string]any{"path": "/v1/chat", "action": map[string]any{"type": "hang"}}}})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.WebSocket(ctx, "/v1/chat", botQuery(0))
	var te *cf.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %T %v", time.Since(start), err, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start = time.Now()
	_, err = c.WebSocket(ctx, "/v1/chat", botQuery(0))
	var ce *cf.CancelledError
	if !errors.As(err, &ce) || !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %T %v", time.Since(start), err, err)
	}

	// An already cancelled context: nothing is opened.
	before := mockWS(t).Handshakes
	if _, err := c.WebSocket(ctx, "/v1/chat", botQuery(0)); !errors.As(err, &ce) {
		t.Fatalf("%T %v", err, err)
	}
	if after := mockWS(t).Handshakes; after != before {
		t.Fatalf("a handshake was made with a cancelled context (%d -> %d)", before, after)
	}
}

func TestWebSocketContextCancelsNext(t *testing.T) {
	c := newClient(t)
	mockState(t, map[string]any{"faults": []any{map[string]any{"path": "/v1/chat",
		"action": map[string]any{"type": "slow_stream", "gap_ms": 20000}}}})
	s, err := c.WebSocket(context.Background(), "/v1/chat", botQuery(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sendChat(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	ev, err := s.Next(ctx)
	var ce *cf.CancelledError
	if ev != nil || !errors.As(err, &ce) || !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %v %T %v", time.Since(start), ev, err, err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = s.Next(ctx)
	var te *cf.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%T %v", err, err)
	}
	start = time.Now()
	s.Close()
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Close took %v", time.Since(start))
	}
}

// Close ends a Next waiting in another goroutine with io.EOF; afterwards the session refuses calls but keeps
// its result.
func TestWebSocketClose(t *testing.T) {
	c := newClient(t)
	s, _ := chatSession(t, c, 0)
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background()) // the mock sends nothing more: this waits
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != io.EOF {
			t.Fatalf("the waiting Next returned %T %v", err, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting Next")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Close took %v", time.Since(start))
	}
	ctx := context.Background()
	if _, err := s.Next(ctx); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := s.Send(ctx, map[string]any{"event_type": "chat.update"}); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if err := s.SendBinary(ctx, []byte{1}); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("SendBinary after Close: %v", err)
	}
	if s.Credential() != "personal" || s.Attempts() != 1 || s.EventsDelivered() != len(chatEvents) || s.LogID() == "" {
		t.Fatalf("result after Close: %q %d %d %q", s.Credential(), s.Attempts(), s.EventsDelivered(), s.LogID())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Client.Close cancels a session's waiting Next.
func TestWebSocketClientCloseCancelsNext(t *testing.T) {
	newClient(t)
	c, err := cf.NewFromJSON(patConfig())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.WebSocket(context.Background(), "/v1/chat", botQuery(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sendChat(t, s)
	if _, err := readUntil(s, "conversation.chat.completed"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		var ce *cf.CancelledError
		if !errors.As(err, &ce) {
			t.Fatalf("%T %v", err, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Client.Close did not end the waiting Next")
	}
	if _, err := c.WebSocket(context.Background(), "/v1/chat", botQuery(0)); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("WebSocket on a closed client: %v", err)
	}
}

func TestWebSocketBadInput(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	var ia *cf.InvalidArgumentError
	_, err := c.WebSocket(ctx, "/v1/chat", url.Values{"bot_id": {"1", "2"}})
	if !errors.As(err, &ia) || !strings.Contains(err.Error(), `"bot_id" has 2 values`) {
		t.Fatalf("%T %v", err, err)
	}
	if _, err := c.WebSocket(ctx, "/v1/chat\x00x", nil); !errors.As(err, &ia) || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("%T %v", err, err)
	}
	_, err = c.WebSocket(ctx, "/v1/chat", url.Values{"authorization": {"Bearer x"}})
	if !errors.As(err, &ia) {
		t.Fatalf("a token in the query: %T %v", err, err)
	}
	s, err := c.WebSocket(ctx, "/v1/chat", botQuery(0))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Send(ctx, "chat.update"); !errors.As(err, &ia) || !strings.Contains(err.Error(), "JSON object") {
		t.Fatalf("a string event: %T %v", err, err)
	}
	if err := s.Send(ctx, nil); !errors.As(err, &ia) {
		t.Fatalf("a nil event: %T %v", err, err)
	}
	if err := s.Send(ctx, map[string]any{"c": make(chan int)}); !errors.As(err, &ia) || !strings.Contains(err.Error(), "cannot encode") {
		t.Fatalf("an unencodable event: %T %v", err, err)
	}
	if err := s.Send(ctx, json.RawMessage(`{"event_type": "chat.update"`)); !errors.As(err, &ia) {
		t.Fatalf("broken JSON: %T %v", err, err)
	}
}

// A binary frame reaches the server as one; Send and Next run in different goroutines at once.
func TestWebSocketBinaryAndConcurrentSendNext(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	s, err := c.WebSocket(ctx, "/v1/audio/transcriptions", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	created := make(chan struct{})
	var got []string
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ev, err := s.Next(ctx)
			if err != nil {
				readErr = err
				return
			}
			got = append(got, ev.EventType)
			if ev.EventType == "transcriptions.created" {
				close(created)
			}
			if ev.EventType == "transcriptions.message.completed" {
				return
			}
		}
	}()
	select {
	case <-created:
	case <-time.After(10 * time.Second):
		t.Fatal("no transcriptions.created")
	}
	if err := s.SendBinary(ctx, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []map[string]any{
		{"id": "t1", "event_type": "input_audio_buffer.append", "data": map[string]any{"delta": "AAAA"}},
		{"id": "t2", "event_type": "input_audio_buffer.complete"},
	} {
		if err := s.Send(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if readErr != nil || got[len(got)-1] != "transcriptions.message.completed" {
		t.Fatalf("%v %v", got, readErr)
	}
	st := mockWS(t)
	if len(st.Sessions) != 1 || len(st.Sessions[0].Received) != 3 || st.Sessions[0].Received[0]["binary"] != float64(3) ||
		st.Sessions[0].Received[1]["id"] != "t1" || st.Sessions[0].Received[2]["id"] != "t2" {
		t.Fatalf("the mock received %+v", st.Sessions)
	}
}
