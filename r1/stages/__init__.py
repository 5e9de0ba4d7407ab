"""Stage entry points, one module per stage kind: each takes a JobSpec (r1.rulekit) and calls one library."""
