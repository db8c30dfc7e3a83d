"""dingtalk adapter: arrives with the platforms issue (see README)."""
