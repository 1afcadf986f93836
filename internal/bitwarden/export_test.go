package bitwarden

import "time"

// SetClock replaces the client's clock, so tests can move past token expiry
// without waiting.
func SetClock(c *Client, now func() time.Time) { c.now = now }
