package policy

// Kind is a kind of caller: how it proved who it is, and so which rules
// of the policy apply to it.
type Kind uint8

// Caller kinds. Browser callers present nothing and are trusted least;
// API-key callers present a bearer key listed in the policy. Further
// kinds (a user signed in with OIDC, a user vouched for by a forward-auth
// proxy) add a constant here, a section in File, a class in Compile (whose
// honoursReserved says whether the reserved identities are refused to it,
// and dispatchMeta whether it may write an agent's job metadata), a case in
// Rules.classOf, and a way for the server to make the Caller.
const (
	KindBrowser Kind = iota + 1
	KindAPIKey
)

// String names the kind as logs and metrics show it.
func (k Kind) String() string {
	switch k {
	case KindBrowser:
		return "browser"
	case KindAPIKey:
		return "api_key"
	}
	return "unknown"
}

// Caller is who asks for a token, as the server authenticated it.
// Callers of a kind the policy knows are made by Rules (Browser, APIKey);
// Decide refuses any other.
type Caller struct {
	Kind Kind
	// ID names the caller within its kind: the API key's name; empty for
	// a browser. It is logged, so it is never a secret.
	ID string
	// Claims are what an identity provider said about the caller (an
	// OIDC token's claims), for kinds that have them; nil otherwise.
	Claims map[string]any

	class *class // the rules for this caller, set by Rules
}

// Name is the caller as logs and metrics show it: "browser" or the ID;
// "" for the zero Caller (no caller authenticated yet).
func (c Caller) Name() string {
	if c.Kind == 0 {
		return ""
	}
	if c.Kind == KindBrowser || c.ID == "" {
		return c.Kind.String()
	}
	return c.ID
}
