package bitwarden

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ErrInvalidClient means the identity server refused the organization API
// key: a wrong client id or secret, or an organization without API access.
var ErrInvalidClient = errors.New("Bitwarden rejected the organization API key (invalid_client)")

// invalidClientHint completes ErrInvalidClient's message.
const invalidClientHint = "check the client id and secret, and that the organization can use the API (Enterprise/Teams plans)"

// TokenError is a token request that got an answer other than a token
// or invalid_client (which is ErrInvalidClient): a 404 from a server that
// is not a Bitwarden identity service, a proxy's error page, a 5xx. The
// settings check tells a wrong server URL from a down server by Status.
type TokenError struct {
	// URL is the token endpoint asked.
	URL string
	// Status is the HTTP status (0 when unknown).
	Status int
	// Code is the OAuth error code, if the answer had one.
	Code string
	msg  string
}

func (e *TokenError) Error() string { return e.msg }

// renewMargin is how long before its expiry a token is replaced, so that a
// request never starts with a token about to lapse in flight.
const renewMargin = 60 * time.Second

// CheckToken fetches a fresh token, which proves the API key is accepted.
// The console's "Test connection" uses it.
func (c *Client) CheckToken(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetchLocked(ctx)
}

// accessToken returns a usable token. stale, when not empty, is a token the
// server just refused: if it is still the cached one, a new one is fetched.
func (c *Client) accessToken(ctx context.Context, stale string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.token != stale && c.now().Before(c.expiry) {
		return c.token, nil
	}
	if err := c.fetchLocked(ctx); err != nil {
		return "", err
	}
	return c.token, nil
}

func (c *Client) fetchLocked(ctx context.Context) error {
	cc := clientcredentials.Config{
		ClientID:     c.clientID,
		ClientSecret: c.secret,
		TokenURL:     c.endpoints.TokenURL,
		Scopes:       []string{Scope},
		AuthStyle:    oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"deviceType":       {DeviceType},
			"deviceIdentifier": {c.deviceID},
			"deviceName":       {DeviceName},
		},
	}
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout(false))
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.httpClient)
	start := time.Now()
	tok, err := cc.Token(ctx)
	if err != nil {
		var re *oauth2.RetrieveError
		status := 0
		if errors.As(err, &re) && re.Response != nil {
			status = re.Response.StatusCode
		}
		c.observe("POST", "/connect/token", status, start, err)
		c.token = ""
		return c.tokenError(err)
	}
	c.observe("POST", "/connect/token", 200, start, nil)
	if tok.AccessToken == "" {
		return errors.New("bitwarden: token endpoint answered without an access token")
	}
	now := c.now()
	lifetime := time.Hour // Bitwarden's documented lifetime, if none is given
	if !tok.Expiry.IsZero() {
		lifetime = time.Until(tok.Expiry)
	}
	margin := renewMargin
	if lifetime < 4*margin {
		margin = lifetime / 4
	}
	c.token = tok.AccessToken
	c.expiry = now.Add(lifetime - margin)
	return nil
}

// invalidate forgets the cached token if it is still tok.
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

// tokenError turns an x/oauth2 error into one an admin can act on. It never
// includes the secret: x/oauth2's own messages may quote the answer body,
// so only parsed fields and a redacted snippet are used.
func (c *Client) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode == "invalid_client" {
			return fmt.Errorf("%w: %s", ErrInvalidClient, invalidClientHint)
		}
		if re.ErrorCode == "" {
			// Vaultwarden answers token errors with an empty "error" and the
			// reason in "message" (ApiErrorResponse in src/error.rs;
			// organization_api_key_login in src/api/identity.rs).
			var vw struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(re.Body, &vw) == nil && vw.Message != "" {
				switch vw.Message {
				case "Invalid client_id", "Incorrect client_secret", "Malformed client_id":
					return fmt.Errorf("%w: the server says %q; %s", ErrInvalidClient, vw.Message, invalidClientHint)
				}
				te := &TokenError{URL: c.endpoints.TokenURL, msg: fmt.Sprintf("bitwarden: token request to %s failed: %s", c.endpoints.TokenURL, c.redact(snippet([]byte(vw.Message))))}
				if re.Response != nil {
					te.Status = re.Response.StatusCode
				}
				return te
			}
		}
		te := &TokenError{URL: c.endpoints.TokenURL, Code: re.ErrorCode}
		status := "no answer"
		if re.Response != nil {
			status, te.Status = re.Response.Status, re.Response.StatusCode
		}
		if re.ErrorCode != "" {
			msg := fmt.Sprintf("bitwarden: token request to %s failed: %s: %s", c.endpoints.TokenURL, status, c.redact(re.ErrorCode))
			if re.ErrorDescription != "" {
				msg += " (" + c.redact(re.ErrorDescription) + ")"
			}
			te.msg = msg
			return te
		}
		te.msg = fmt.Sprintf("bitwarden: token request to %s failed: %s: %s", c.endpoints.TokenURL, status, c.redact(snippet(re.Body)))
		return te
	}
	// Transport errors (*url.Error) name the URL and the cause; the secret
	// travels in the form body, so it is in neither.
	return fmt.Errorf("bitwarden: token request failed: %w", err)
}

// redact removes the secret from text that came from elsewhere (an answer
// body), in case a proxy echoes the request.
func (c *Client) redact(s string) string {
	for _, sec := range c.redactList {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// scrub redacts every text of an API error that came from the server.
func (c *Client) scrub(e *APIError) *APIError {
	e.Body = c.redact(e.Body)
	e.Message = c.redact(e.Message)
	if len(e.Errors) > 0 {
		errs := make(map[string][]string, len(e.Errors))
		for k, vs := range e.Errors {
			out := make([]string, len(vs))
			for i, v := range vs {
				out[i] = c.redact(v)
			}
			errs[c.redact(k)] = out
		}
		e.Errors = errs
	}
	return e
}
