package cozefallback_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	cf "github.com/cozefallback/cozefallback-go"
)

// Every tests/scenarios/conversations/*.json through the Go API (one subtest per file): the keys
// tests/scenarios/README.md lists under "Conversation scenarios".
func TestConversationScenarios(t *testing.T) { runScenarioDir(t, "conversations", 16, runScenario) }

// hookLog records every call of the OnConversationMoved hook, in order (it runs on library threads).
type hookLog struct {
	mu    sync.Mutex
	calls []cf.ConversationMoved
}

func (h *hookLog) install(client *cf.Client) {
	client.OnConversationMoved(func(from, to string, messagesCopied int) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls = append(h.calls, cf.ConversationMoved{From: from, To: to, MessagesCopied: messagesCopied})
	})
}

// check compares expect_hook (a list of {from?, to?, messages_copied?}) with the recorded calls.
func (h *hookLog) check(raw json.RawMessage) error {
	var want []json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		return fmt.Errorf("expect_hook must be an array: %v", err)
	}
	h.mu.Lock()
	calls := append([]cf.ConversationMoved(nil), h.calls...)
	h.mu.Unlock()
	if len(calls) != len(want) {
		return fmt.Errorf("hook: expected %d call(s), got %+v", len(want), calls)
	}
	for i, w := range want {
		if err := checkMoved(w, &calls[i], fmt.Sprintf("hook call %d", i)); err != nil {
			return err
		}
	}
	return nil
}

// restart is the new_client step: a fresh client from the same config (an app restart), with the hook.
func (s *scenarioState) restart(raw json.RawMessage) error {
	var yes bool
	if json.Unmarshal(raw, &yes) != nil || !yes {
		return fmt.Errorf("new_client must be true, got %s", raw)
	}
	fresh, err := cf.NewFromJSON(s.config)
	if err != nil {
		return fmt.Errorf("new_client: %v", err)
	}
	s.hooks.install(fresh)
	s.refreshes.install(fresh)
	s.client.Close()
	s.client = fresh
	return nil
}

// mapStep is the map_conversation step: {"from": ID, "to": ID}.
func mapStep(client *cf.Client, raw json.RawMessage) error {
	var keys map[string]json.RawMessage
	json.Unmarshal(raw, &keys)
	if err := checkKeys(keys, "map_conversation", "from", "to"); err != nil {
		return err
	}
	var spec struct{ From, To string }
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("map_conversation: %v", err)
	}
	if err := client.MapConversation(spec.From, spec.To); err != nil {
		return fmt.Errorf("map_conversation: %v", err)
	}
	return nil
}

// saveMovedTo keeps the call's conversation_moved.to as ${NAME} (raw is the step's save_moved_to, or nil).
func saveMovedTo(raw json.RawMessage, out *outcome, vars map[string]string) error {
	if raw == nil {
		return nil
	}
	var name string
	if json.Unmarshal(raw, &name) != nil || name == "" {
		return fmt.Errorf("save_moved_to must be a name, got %s", raw)
	}
	if out.moved == nil {
		return fmt.Errorf("save_moved_to: the call reported no ConversationMoved")
	}
	vars[name] = out.moved.To
	return nil
}

// checkMoved: want is false (no move) or {from?, to?, messages_copied?}, whose keys given must match; To must
// differ from From.
func checkMoved(want json.RawMessage, got *cf.ConversationMoved, what string) error {
	if strings.TrimSpace(string(want)) == "false" {
		if got != nil {
			return fmt.Errorf("%s: expected none, got %+v", what, *got)
		}
		return nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(want, &keys); err != nil {
		return fmt.Errorf("%s must be false or an object: %s", what, want)
	}
	if err := checkKeys(keys, what, "from", "to", "messages_copied"); err != nil {
		return err
	}
	if got == nil {
		return fmt.Errorf("%s: expected %s, got none", what, want)
	}
	same := true
	if v, ok := keys["from"]; ok {
		same = same && str(v) == got.From
	}
	if v, ok := keys["to"]; ok {
		same = same && str(v) == got.To
	}
	if v, ok := keys["messages_copied"]; ok {
		same = same && num(v) == int64(got.MessagesCopied)
	}
	if !same || got.To == "" || got.To == got.From {
		return fmt.Errorf("%s: expected %s, got %+v", what, want, *got)
	}
	return nil
}

// checkStranded: the conversation_stranded keys of expect.error, and message_contains (any kind).
func checkStranded(want map[string]json.RawMessage, err error) error {
	var se *cf.ConversationStrandedError
	isStranded := errors.As(err, &se)
	fields := map[string]func() string{
		"conversation_id":    func() string { return se.ConversationID },
		"file_id":            func() string { return se.FileID },
		"conversation_owner": func() string { return se.ConversationOwner },
		"bot_credential":     func() string { return se.BotCredential },
	}
	for key, field := range fields {
		w, ok := want[key]
		if !ok {
			continue
		}
		if !isStranded {
			return fmt.Errorf("error.%s: expected %s from a *ConversationStrandedError, got %T: %v", key, w, err, err)
		}
		if got := field(); got != str(w) {
			return fmt.Errorf("error.%s: expected %s, got %q (%v)", key, w, got, err)
		}
	}
	if v, ok := want["message_contains"]; ok && !strings.Contains(err.Error(), str(v)) {
		return fmt.Errorf("error message %q lacks %q", err.Error(), str(v))
	}
	return nil
}

// checkDataLen: the length of the response body's data array.
func checkDataLen(want json.RawMessage, body []byte) error {
	var doc struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Data == nil {
		return fmt.Errorf("data_len: expected %s, the body has no data array: %s", want, body)
	}
	if int64(len(doc.Data)) != num(want) {
		return fmt.Errorf("data_len: expected %s, got %d", want, len(doc.Data))
	}
	return nil
}
