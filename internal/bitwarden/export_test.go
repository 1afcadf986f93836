package bitwarden

import (
	"context"
	"time"
)

// SetClock replaces the client's clock, so tests can move past token expiry
// without waiting.
func SetClock(c *Client, now func() time.Time) { c.now = now }

// SetSleep replaces the wait between read retries, so tests see the waits
// without spending them.
func SetSleep(c *Client, sleep func(context.Context, time.Duration) error) { c.sleep = sleep }
