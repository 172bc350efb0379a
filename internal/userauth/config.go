package userauth

// CloudflareHeader is the header Cloudflare Access signs the user into.
const CloudflareHeader = "Cf-Access-Jwt-Assertion"

// defaultAlgorithms are accepted from an issuer that publishes no list
// (no discovery, or an empty id_token_signing_alg_values_supported).
var defaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}
