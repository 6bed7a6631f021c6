"""Safety: the privacy screen, and later the safety enforcer and compliance policies."""
