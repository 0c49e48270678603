"""OpenID Connect login (authorization code + PKCE S256, state, nonce) against external identity providers:
the relying party (config, provider, rp), the accounts it provisions (accounts), and the pending logins (store)."""
