"""SQLAlchemy tables and mapping, repositories, the unit of work, the read side, security
adapters and settings: everything that talks to the outside world."""
