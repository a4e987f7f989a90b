package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flabsync/flabsync/internal/textdist"
)

// StringList is a list of strings written either as a YAML list or as one
// comma-separated string ("a@x, b@y").
type StringList []string

// UnmarshalYAML accepts a sequence or a comma-separated scalar.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: list items must be text", c.Line)
			}
			if s := strings.TrimSpace(c.Value); s != "" {
				out = append(out, s)
			}
		}
		*l = out
	case yaml.ScalarNode:
		var out []string
		for _, s := range strings.Split(n.Value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		*l = out
	default:
		return fmt.Errorf("line %d: want a list or a comma-separated string", n.Line)
	}
	return nil
}

// Path returns the config file to read and whether it was named explicitly
// (by flag or environment): an explicit file must exist, the default may not.
func Path(flag string) (path string, explicit bool) {
	if flag != "" {
		return flag, true
	}
	if p := os.Getenv(EnvPath); p != "" {
		return p, true
	}
	return DefaultPath, false
}

// Load reads the file at path over Default(), expands ${VAR} and
// ${VAR:-default} in values, applies LOG_LEVEL/LOG_FORMAT overrides and
// validates the result. A missing file is an error only when explicit.
func Load(path string, explicit bool) (Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		// No file: defaults only.
	case err != nil:
		return cfg, err
	default:
		if err := Parse(data, &cfg); err != nil {
			return cfg, fmt.Errorf("%s: %w", path, err)
		}
	}
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		cfg.Log.Level = v
	}
	if v := os.Getenv("LOG_FORMAT"); v != "" {
		cfg.Log.Format = v
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML data over cfg, strictly: an unknown key, a value of the
// wrong type or an unset ${VAR} is an error naming the key and its line.
// It does not validate; call Validate.
func Parse(data []byte, cfg *Config) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	return decode(root, reflect.ValueOf(cfg).Elem(), "")
}

var (
	durationType   = reflect.TypeOf(time.Duration(0))
	stringListType = reflect.TypeOf(StringList(nil))
)

// decode walks node into v, which is addressable, building the dotted key
// path for messages.
func decode(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch {
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s (line %d): want a section of keys, got %s", keyName(path), n.Line, kindName(n))
		}
		fields := structFields(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				return unknownKey(join(path, k.Value), k, keys(fields))
			}
			if err := decode(val, v.Field(idx), join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Map:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s (line %d): want a section of keys, got %s", keyName(path), n.Line, kindName(n))
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if strings.TrimSpace(k.Value) == "" {
				return fmt.Errorf("%s (line %d): empty key", keyName(path), k.Line)
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			if old := v.MapIndex(reflect.ValueOf(k.Value)); old.IsValid() {
				elem.Set(old)
			}
			if err := decode(val, elem, join(path, k.Value)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		return nil
	}
	if err := expandNode(n, path); err != nil {
		return err
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return nil
	}
	if v.Type() != stringListType && n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s (line %d): want a single value, got %s", keyName(path), n.Line, kindName(n))
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		return fmt.Errorf("%s (line %d): %q is not %s", keyName(path), n.Line, n.Value, typeName(v.Type()))
	}
	return nil
}

// expandNode expands ${VAR} in a scalar (or in each item of a sequence) and
// lets YAML re-resolve the expanded text's type, so "${RATE}" can fill a
// number.
func expandNode(n *yaml.Node, path string) error {
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := expandNode(c, path); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		s, err := Expand(n.Value, os.LookupEnv)
		if err != nil {
			return fmt.Errorf("%s (line %d): %w", keyName(path), n.Line, err)
		}
		n.Value = s
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			n.Tag = ""
		}
	}
	return nil
}

// Expand replaces ${VAR} and ${VAR:-default} in s. "$${" is a literal "${".
// An unset variable without a default is an error naming it.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s}: %q is not a variable name", expr, name)
		}
		val, ok := lookup(name)
		switch {
		case ok && val != "":
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		case ok:
			// Set but empty: keep it empty.
		default:
			return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to allow that)", name, name)
		}
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func structFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func unknownKey(path string, k *yaml.Node, known []string) error {
	msg := fmt.Sprintf("unknown key %s (line %d)", path, k.Line)
	if s := closest(k.Value, known); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	} else {
		msg += fmt.Sprintf("; known keys here: %s", strings.Join(known, ", "))
	}
	return errors.New(msg)
}

// closest returns the known key within edit distance 2 of s, if any.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := textdist.Distance(strings.ToLower(s), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keyName(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (like 30s, 5m, 6h)"
	case t == stringListType:
		return "a list of text"
	}
	switch t.Kind() {
	case reflect.Pointer: // an optional value (partners.<name>.receipts)
		return typeName(t.Elem())
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	}
	return t.String()
}
