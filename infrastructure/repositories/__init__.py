"""SQLAlchemy implementations of the domain's repository interfaces. They flush, never commit."""
