package credential_test

import (
	"fmt"

	"voicetoken/internal/credential"
)

func ExampleParseSpec() {
	for _, s := range []string{
		"file:/run/secrets/podium_token",
		"env:PODIUM_TOKEN",
		"exec:vault kv get -field=token secret/podium",
	} {
		spec, err := credential.ParseSpec(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(spec.Kind, spec)
	}
	// Output:
	// file file:/run/secrets/podium_token
	// env env:PODIUM_TOKEN
	// exec exec:vault (4 args)
}
