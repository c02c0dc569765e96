package cozefallback

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The Go config types against core/config.schema.json, the one schema the core's parser is tested against:
// every struct's json names are the properties of its schema object, nested sections included.

func loadConfigSchema(t *testing.T) map[string]any {
	t.Helper()
	text, err := os.ReadFile("../core/config.schema.json")
	if err != nil {
		t.Fatalf("reading the schema: %v", err)
	}
	var schema map[string]any
	if err := json.Unmarshal(text, &schema); err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	return schema
}

// resolveRef follows a local "#/$defs/NAME" reference.
func resolveRef(t *testing.T, root, node map[string]any) map[string]any {
	t.Helper()
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	def, ok := root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	if !ok {
		t.Fatalf("unresolved $ref %s", ref)
	}
	return def
}

func schemaProps(node map[string]any) map[string]any {
	props, _ := node["properties"].(map[string]any)
	return props
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonFields maps each field's json name to its type, pointers removed.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		fields[name] = ft
	}
	return fields
}

// compareObject checks that the struct's json names are the schema object's properties, then descends into the
// fields that are objects (a credential: the Go struct holds the union of the pat, jwt and oauth fields).
func compareObject(t *testing.T, root, node map[string]any, typ reflect.Type, path string) {
	t.Helper()
	goFields := jsonFields(typ)
	want := map[string]map[string]any{}
	if variants, ok := node["oneOf"].([]any); ok {
		for _, v := range variants {
			for name, prop := range schemaProps(resolveRef(t, root, v.(map[string]any))) {
				want[name] = prop.(map[string]any)
			}
		}
	} else {
		for name, prop := range schemaProps(node) {
			want[name] = prop.(map[string]any)
		}
	}
	if got, exp := sortedKeys(goFields), sortedKeys(want); !reflect.DeepEqual(got, exp) {
		t.Errorf("%s (%s): json names %v, the schema has %v", path, typ.Name(), got, exp)
	}
	for name, prop := range want {
		ft, ok := goFields[name]
		if !ok {
			continue
		}
		prop = resolveRef(t, root, prop)
		if prop["type"] == "object" || prop["oneOf"] != nil {
			if ft.Kind() != reflect.Struct {
				t.Errorf("%s.%s is an object in the schema, %s in Go", path, name, ft)
				continue
			}
			compareObject(t, root, prop, ft, path+"."+name)
		}
	}
}

func TestConfigTypesMatchTheSchema(t *testing.T) {
	root := loadConfigSchema(t)
	compareObject(t, root, root, reflect.TypeOf(Config{}), "config")
	// The sections the schema names are all reached (a section missing on both sides would pass the above).
	for _, section := range []string{"fallback", "retry", "timeouts", "tls", "conversations", "state"} {
		if _, ok := jsonFields(reflect.TypeOf(Config{}))[section]; !ok {
			t.Errorf("Config has no %q section", section)
		}
	}
}

func TestModeConstantsAreTheSchemasModes(t *testing.T) {
	root := loadConfigSchema(t)
	var want []string
	for _, v := range schemaProps(root)["mode"].(map[string]any)["enum"].([]any) {
		want = append(want, v.(string))
	}
	got := []string{string(PersonalFirst), string(EnterpriseFirst), string(PersonalOnly), string(EnterpriseOnly)}
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Mode constants %v, the schema's modes %v", got, want)
	}
}

func TestStateConfigNeverPrintsTheRedisPassword(t *testing.T) {
	s := StateConfig{RedisURL: "redis://user:pw-sekrit@redis:6379/0", KeyPrefix: "cf:"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, "pw-sekrit") || !strings.Contains(out, "redis:6379") {
			t.Errorf("%s: %s", verb, out)
		}
	}
}
