"""xAPI statements about learning in Vern, sent to the company's Learning Record Store(s)."""
