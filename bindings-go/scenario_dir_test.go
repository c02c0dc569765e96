package cozefallback_test

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// runScenarioDir runs every ../tests/scenarios/<dir>/*.json, in name order, as one subtest each through
// run (runScenario for the conformance format). It fails when the folder holds fewer than minimum files, so
// a moved or emptied folder cannot pass by running nothing.
//
//	func TestWebSocketScenarios(t *testing.T) { runScenarioDir(t, "websocket", 10, runScenario) }
func runScenarioDir(t *testing.T, dir string, minimum int, run func(file string, vars map[string]string) error) {
	t.Helper()
	folder := filepath.Join("..", "tests", "scenarios", dir)
	files, err := filepath.Glob(filepath.Join(folder, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < minimum {
		t.Fatalf("expected at least %d scenarios in %s, found %d", minimum, folder, len(files))
	}
	vars := placeholders()
	for _, file := range files {
		file := file
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			if err := run(file, vars); err != nil {
				t.Fatal(err)
			}
		})
	}
}
