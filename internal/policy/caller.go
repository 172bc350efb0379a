package policy

// Kind is a kind of caller: how it proved who it is, and so which rules
// of the policy apply to it.
type Kind uint8

// Caller kinds. Browser callers present nothing and are trusted least;
// API-key callers present a bearer key listed in the policy; users signed
// in with an OpenID Connect ID token, or vouched for by a forward-auth
// proxy, get the identity of their login and the Users rules.
const (
	KindBrowser Kind = iota + 1
	KindAPIKey
	KindOIDCUser
	KindForwardAuthUser
)

// String names the kind as logs and metrics show it.
func (k Kind) String() string {
	switch k {
	case KindBrowser:
		return "browser"
	case KindAPIKey:
		return "api_key"
	case KindOIDCUser:
		return "oidc_user"
	case KindForwardAuthUser:
		return "forward_auth_user"
	}
	return "unknown"
}

// Caller is who asks for a token, as the server authenticated it.
// Callers of a kind the policy knows are made by Rules (Browser, APIKey);
// Decide refuses any other.
type Caller struct {
	Kind Kind
	// ID names the caller within its kind: the API key's name, the
	// user's source (the issuer's name, "forward_auth", "cloudflare");
	// empty for a browser. It is logged, so it is never a secret.
	ID string
	// Identity and UserName are a signed-in user's, from the login: the
	// token's identity is always Identity, whatever the request says.
	Identity, UserName string
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
