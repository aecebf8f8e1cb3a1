package uplink

// Rate is the budget's long-run rate in bytes per second, shared by all
// exporters; 0 when the uplink is unlimited. A sender uses it to keep a
// request small enough that waiting for it does not hold more important
// data back for long.
func (c *Client) Rate() float64 {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	return c.b.rate
}
