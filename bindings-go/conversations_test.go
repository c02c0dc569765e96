package cozefallback_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	cf "github.com/cozefallback/cozefallback-go"
)

// convClient is a client with both PATs and the given conversations section (nil: the defaults), built from
// the typed Config after a mock reset.
func convClient(t *testing.T, conversations *cf.ConversationsConfig) *cf.Client {
	t.Helper()
	if err := mockCall("POST", "/__mock/reset", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	return convClientNoReset(t, conversations)
}

func convClientNoReset(t *testing.T, conversations *cf.ConversationsConfig) *cf.Client {
	t.Helper()
	c, err := cf.New(cf.Config{
		BaseURL:       mockURL,
		Personal:      cf.PAT(infoString("personal_pat")),
		Enterprise:    cf.PAT(infoString("enterprise_pat")),
		Retry:         &cf.RetryConfig{BaseDelayMs: 10, MaxDelayMs: 50},
		Conversations: conversations,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// chatIn sends a whole-answer chat naming conversation (none when "").
func chatIn(c *cf.Client, conversation, text string) (*cf.Response, error) {
	body := chatBody(false)
	body["additional_messages"] = []map[string]any{{"role": "user", "content": text, "content_type": "text"}}
	req := &cf.Request{Method: "POST", Path: "/v3/chat", JSON: body}
	if conversation != "" {
		req.Query = url.Values{"conversation_id": {conversation}}
	}
	return c.Do(context.Background(), req)
}

// conversationBeforeMove: two chats with the personal credential; returns the conversation id.
func conversationBeforeMove(t *testing.T, c *cf.Client) string {
	t.Helper()
	resp, err := chatIn(c, "", "hello before the move")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data struct {
			ConversationID string `json:"conversation_id"`
		} `json:"data"`
	}
	if err := resp.JSON(&doc); err != nil || doc.Data.ConversationID == "" || resp.Credential != "personal" {
		t.Fatalf("first chat: %+v %v", resp, err)
	}
	if _, err := chatIn(c, doc.Data.ConversationID, "second question"); err != nil {
		t.Fatal(err)
	}
	return doc.Data.ConversationID
}

func moveWorkspace(t *testing.T) {
	t.Helper()
	if err := mockCall("POST", "/__mock/state", map[string]any{"moved": true}, nil); err != nil {
		t.Fatal(err)
	}
}

func conversationCreates(t *testing.T) int64 {
	t.Helper()
	var stats struct {
		Requests struct {
			ByPath map[string]int64 `json:"by_path"`
		} `json:"requests"`
	}
	if err := mockCall("GET", "/__mock/stats", nil, &stats); err != nil {
		t.Fatal(err)
	}
	return stats.Requests.ByPath["/v1/conversation/create"]
}

func TestConversationStrandedError(t *testing.T) {
	c := convClient(t, &cf.ConversationsConfig{OnStranded: cf.OnStrandedError})
	conv := conversationBeforeMove(t, c)
	moveWorkspace(t)
	resp, err := chatIn(c, conv, "after the move")
	var se *cf.ConversationStrandedError
	if resp != nil || !errors.As(err, &se) {
		t.Fatalf("expected a *ConversationStrandedError, got %+v %T %v", resp, err, err)
	}
	var asError cf.Error
	if cf.KindOf(err) != cf.KindConversationStranded || !errors.As(err, &asError) || asError.Kind() != "conversation_stranded" {
		t.Fatalf("kind %q", cf.KindOf(err))
	}
	if se.ConversationID != conv || se.FileID != "" || se.ConversationOwner != "personal" || se.BotCredential != "enterprise" {
		t.Fatalf("fields %+v", se)
	}
	msg := se.Error()
	if !strings.Contains(msg, conv) || !strings.Contains(msg, "on_stranded") ||
		strings.Contains(msg, infoString("personal_pat")) || strings.Contains(msg, infoString("enterprise_pat")) {
		t.Fatalf("message %q", msg)
	}
	var api *cf.APIError
	if !errors.As(se.Previous, &api) || api.Code == 0 || se.Attempts < 2 {
		t.Fatalf("previous %T %v, attempts %d", se.Previous, se.Previous, se.Attempts)
	}
	if n := conversationCreates(t); n != 0 {
		t.Fatalf("on_stranded error created %d conversation(s)", n)
	}
}

func TestStrandedFileError(t *testing.T) {
	c := convClient(t, nil)
	up, err := c.Upload(context.Background(), "/v1/files/upload", "a.txt", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data struct{ ID string } `json:"data"`
	}
	up.JSON(&doc)
	moveWorkspace(t)
	body := chatBody(false)
	body["additional_messages"] = []map[string]any{{"role": "user", "content_type": "object_string",
		"content": `[{"type":"file","file_id":"` + doc.Data.ID + `"}]`}}
	_, err = c.PostJSON(context.Background(), "/v3/chat", body)
	var se *cf.ConversationStrandedError
	if !errors.As(err, &se) || se.FileID != doc.Data.ID || doc.Data.ID == "" || se.ConversationID != "" ||
		se.ConversationOwner != "personal" || se.BotCredential != "enterprise" || !strings.Contains(se.Msg, "upload the file again") {
		t.Fatalf("%T %+v", err, err)
	}
}

func TestConversationsConfigJSON(t *testing.T) {
	doc, err := json.Marshal(cf.Config{Conversations: &cf.ConversationsConfig{OnStranded: cf.OnStrandedNew, CarryOverMessages: cf.Ptr[uint32](0)}})
	if err != nil || !strings.Contains(string(doc), `"conversations":{"on_stranded":"new","carry_over_messages":0}`) {
		t.Fatalf("%s %v", doc, err)
	}
	_, err = cf.New(cf.Config{BaseURL: mockURL, Personal: cf.PAT("pat_x"),
		Conversations: &cf.ConversationsConfig{CarryOverMessages: cf.Ptr[uint32](51)}})
	var ce *cf.ConfigError
	if !errors.As(err, &ce) || ce.Field != "conversations.carry_over_messages" {
		t.Fatalf("%T %v", err, err)
	}
	_, err = cf.New(cf.Config{BaseURL: mockURL, Personal: cf.PAT("pat_x"),
		Conversations: &cf.ConversationsConfig{OnStranded: "sometimes"}})
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "on_stranded") {
		t.Fatalf("%T %v", err, err)
	}
}

// movedLog records the hook's calls; the hook runs on library threads.
type movedLog struct {
	mu    sync.Mutex
	calls []cf.ConversationMoved
}

func (l *movedLog) hook(from, to string, messagesCopied int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, cf.ConversationMoved{From: from, To: to, MessagesCopied: messagesCopied})
}

func (l *movedLog) snapshot() []cf.ConversationMoved {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]cf.ConversationMoved(nil), l.calls...)
}

func TestOnConversationMoved(t *testing.T) {
	c := convClient(t, nil)
	var log movedLog
	c.OnConversationMoved(log.hook)
	conv := conversationBeforeMove(t, c)
	second := conversationBeforeMove(t, c)
	moveWorkspace(t)

	resp, err := chatIn(c, conv, "after the move")
	if err != nil {
		t.Fatal(err)
	}
	m := resp.ConversationMoved
	if m == nil || m.From != conv || m.To == "" || m.To == conv || m.MessagesCopied != 4 || resp.Credential != "enterprise" {
		t.Fatalf("moved %+v, credential %s", m, resp.Credential)
	}
	if calls := log.snapshot(); len(calls) != 1 || calls[0] != *m {
		t.Fatalf("hook calls %+v, want one %+v", calls, *m)
	}
	// The old id now goes to the new conversation in one round trip, with nothing to report.
	again, err := chatIn(c, conv, "and again")
	if err != nil || again.ConversationMoved != nil || again.Attempts != 1 || !strings.Contains(string(again.Body), m.To) {
		t.Fatalf("%+v %v", again, err)
	}

	// nil removes the hook; a carried-over stream reports the move as soon as it is open.
	c.OnConversationMoved(nil)
	body := chatBody(true)
	s, err := c.Stream(context.Background(), &cf.Request{Method: "POST", Path: "/v3/chat", JSON: body,
		Query: url.Values{"conversation_id": {second}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if sm := s.ConversationMoved; sm == nil || sm.From != second || sm.To == second || sm.MessagesCopied != 4 {
		t.Fatalf("stream moved %+v", sm)
	}
	if ev, err := s.Next(); err != nil || ev == nil {
		t.Fatalf("first event: %v", err)
	}
	if calls := log.snapshot(); len(calls) != 1 {
		t.Fatalf("a removed hook was called: %+v", calls)
	}
}

func TestOnConversationMovedPanicDoesNotCrash(t *testing.T) {
	c := convClient(t, nil)
	c.OnConversationMoved(func(from, to string, messagesCopied int) { panic("the app's hook is broken") })
	conv := conversationBeforeMove(t, c)
	moveWorkspace(t)
	resp, err := chatIn(c, conv, "after the move")
	if err != nil || resp.ConversationMoved == nil || resp.ConversationMoved.From != conv {
		t.Fatalf("%+v %v", resp, err)
	}
	// The mapping was kept despite the panic.
	again, err := chatIn(c, conv, "and again")
	if err != nil || again.ConversationMoved != nil || again.Attempts != 1 {
		t.Fatalf("%+v %v", again, err)
	}
}

func TestMapConversationAfterRestart(t *testing.T) {
	first := convClient(t, nil)
	var log movedLog
	first.OnConversationMoved(log.hook)
	conv := conversationBeforeMove(t, first)
	moveWorkspace(t)
	if _, err := chatIn(first, conv, "after the move"); err != nil {
		t.Fatal(err)
	}
	calls := log.snapshot()
	if len(calls) != 1 {
		t.Fatalf("hook calls %+v", calls)
	}
	first.Close() // the restart: the map lived in that client

	restarted := convClientNoReset(t, nil)
	if err := restarted.MapConversation(calls[0].From, calls[0].To); err != nil {
		t.Fatal(err)
	}
	resp, err := chatIn(restarted, conv, "after the restart")
	if err != nil || resp.ConversationMoved != nil || resp.Credential != "enterprise" || !strings.Contains(string(resp.Body), calls[0].To) {
		t.Fatalf("%+v %v", resp, err)
	}
	if n := conversationCreates(t); n != 1 {
		t.Fatalf("%d conversation/create calls, want the one carry-over", n)
	}
}

func TestMapConversationBadArguments(t *testing.T) {
	c := convClient(t, nil)
	var inv *cf.InvalidArgumentError
	for _, tc := range []struct{ from, to, names string }{
		{"", "b", "from"}, {"a", "", "to"}, {"a", "a", "same"}, {"a\x00b", "c", "from"}, {"a", "c\x00", "to"},
		{"\xff\xfe", "b", "UTF-8"},
	} {
		err := c.MapConversation(tc.from, tc.to)
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), tc.names) {
			t.Errorf("MapConversation(%q, %q): %T %v", tc.from, tc.to, err, err)
		}
	}
	if err := c.MapConversation("7480000000000000001", "7480000000000000002"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.MapConversation("a", "b"); !errors.Is(err, cf.ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
	c.OnConversationMoved(func(string, string, int) {}) // a no-op on a closed client, not a crash
	c.OnConversationMoved(nil)
}
