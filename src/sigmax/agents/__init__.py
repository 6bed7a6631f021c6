"""The seven analysis agents and the orchestrator that turns their debate into a decision."""
