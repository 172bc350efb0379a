package token_test

import (
	"testing"

	"voicetoken/internal/token"
)

func TestClean(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"
	tests := []struct{ name, in, want string }{
		{"as is", jwt, jwt},
		{"white space and CRLF", "  " + jwt + "\r\n\n", jwt},
		{"byte order mark", "\uFEFF" + jwt + "\r\n", jwt},
		{"Bearer", "Bearer " + jwt, jwt},
		{"bearer, any case, spaces", "  BEARER   " + jwt + "\n", jwt},
		{"BOM and Bearer", "\uFEFFBearer " + jwt, jwt},
		{"Bearer alone", "Bearer", "Bearer"},
		{"a word that starts so", "Bearerx" + jwt, "Bearerx" + jwt},
		{"empty", " \n", ""},
	}
	for _, tc := range tests {
		if got := token.Clean(tc.in); got != tc.want {
			t.Errorf("%s: Clean(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
