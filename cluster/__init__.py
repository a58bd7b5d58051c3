"""make cluster: PostgreSQL primary and replica, PgBouncer, API hosts and nginx, on one
machine, under faults (cluster/run.py)."""
