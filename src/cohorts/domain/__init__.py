"""Plain-Python model of cohorts and the rules they obey; imports nothing of ours."""
