package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/flabsync/flabsync/internal/config"
)

// partners.<name>.email is a list or one comma-separated string; receipts
// are on when it is set, unless receipts: false.
func TestPartnerEmailAndReceipts(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		email []string
		wants bool
	}{
		{"comma-separated", "partners:\n  sunrise:\n    email: \"a@x.example, b@y.example\"\n",
			[]string{"a@x.example", "b@y.example"}, true},
		{"list", "partners:\n  sunrise:\n    email: [a@x.example, \"Front Desk <fd@y.example>\"]\n",
			[]string{"a@x.example", "Front Desk <fd@y.example>"}, true},
		{"one address", "partners:\n  sunrise:\n    email: a@x.example\n", []string{"a@x.example"}, true},
		{"receipts off", "partners:\n  sunrise:\n    email: a@x.example\n    receipts: false\n", []string{"a@x.example"}, false},
		{"receipts on", "partners:\n  sunrise:\n    email: a@x.example\n    receipts: true\n", []string{"a@x.example"}, true},
		{"no email", "partners:\n  sunrise:\n    lead_source: S\n", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(writeConfig(t, tt.body), true)
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Partners["sunrise"]
			if !slices.Equal(p.Email, tt.email) {
				t.Errorf("email = %q, want %q", p.Email, tt.email)
			}
			if got := p.WantsReceipts(); got != tt.wants {
				t.Errorf("WantsReceipts = %v, want %v", got, tt.wants)
			}
		})
	}
}

func TestPartnerEmailErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"bad address in a string", "partners:\n  sunrise:\n    email: \"a@x.example, not-an-address\"\n",
			[]string{"partners.sunrise.email", `"not-an-address"`, "not an email address"}},
		{"bad address in a list", "partners:\n  sunrise:\n    email: [a@x.example, b@]\n",
			[]string{"partners.sunrise.email", `"b@"`}},
		{"receipts without email", "partners:\n  sunrise:\n    receipts: true\n",
			[]string{"partners.sunrise.receipts", "partners.sunrise.email"}},
		{"receipts not a bool", "partners:\n  sunrise:\n    email: a@x.example\n    receipts: sometimes\n",
			[]string{"partners.sunrise.receipts", `"sometimes"`, "true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(writeConfig(t, tt.body), true)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tt.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// Only the bad address is named: the good one beside it passes.
	_, err := config.Load(writeConfig(t, "partners:\n  sunrise:\n    email: \"ok@x.example, bad\"\n"), true)
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Key != "partners.sunrise.email" || fe.Value != "bad" {
		t.Errorf("error = %v, want one FieldError for partners.sunrise.email \"bad\"", err)
	}
}
