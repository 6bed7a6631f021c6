"""Pure domain types: no I/O, no imports from the rest of the package."""
