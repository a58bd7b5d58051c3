"""Use cases, the unit-of-work interface, ports and read models. Imports only the domain."""
