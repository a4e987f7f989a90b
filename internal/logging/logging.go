// Package logging builds the product's slog loggers and names the
// attribute keys every component shares, so logs can be searched by file,
// row and integrator ID — and never carry patient data.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Attribute keys used across components.
const (
	KeyComponent    = "component"
	KeyFile         = "file"
	KeyRow          = "row"
	KeyIntegratorID = "integrator_id"
	KeyPartner      = "partner"
	KeyJob          = "job"
	KeyErr          = "err"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("text" or "json").
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// Err is the attribute for an error.
func Err(err error) slog.Attr { return slog.Any(KeyErr, err) }
