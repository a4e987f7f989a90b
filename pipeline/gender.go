package pipeline

import (
	"errors"
	"strings"

	"github.com/flabsync/flabsync/internal/flabs"
)

var errGenderEmpty = errors.New("gender is empty")

// genderWords maps what sheets write to Flabs' gender enum.
var genderWords = map[string]string{
	"m": flabs.GenderMale, "male": flabs.GenderMale, "man": flabs.GenderMale, "boy": flabs.GenderMale,
	"mr": flabs.GenderMale, "masc": flabs.GenderMale, "masculine": flabs.GenderMale, "पुरुष": flabs.GenderMale,
	"f": flabs.GenderFemale, "female": flabs.GenderFemale, "woman": flabs.GenderFemale, "girl": flabs.GenderFemale,
	"fem": flabs.GenderFemale, "w": flabs.GenderFemale, "mrs": flabs.GenderFemale, "ms": flabs.GenderFemale,
	"feminine": flabs.GenderFemale, "महिला": flabs.GenderFemale, "स्त्री": flabs.GenderFemale,
	"o": flabs.GenderOther, "other": flabs.GenderOther, "others": flabs.GenderOther, "t": flabs.GenderOther,
	"tg": flabs.GenderOther, "trans": flabs.GenderOther, "transgender": flabs.GenderOther,
	"third gender": flabs.GenderOther, "non-binary": flabs.GenderOther, "nonbinary": flabs.GenderOther,
	"x": flabs.GenderOther, "अन्य": flabs.GenderOther,
}

// ParseGender maps M/F/O, Male/Female/Other and common variants (any
// case, with stray dots) to male, female or other. Anything else is an
// error: flabsync never guesses a patient's gender.
func ParseGender(s string) (string, error) {
	k := strings.ToLower(strings.Join(strings.Fields(strings.Trim(s, " .\t")), " "))
	if k == "" {
		return "", errGenderEmpty
	}
	if g, ok := genderWords[k]; ok {
		return g, nil
	}
	return "", errors.New("gender " + quote(s) + " is not male, female or other")
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}
