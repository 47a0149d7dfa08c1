"""The scheduler role: cron and interval jobs, one leader at a time, every run recorded."""
