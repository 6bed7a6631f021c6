"""Optional LLM reasoning: the record's bull and bear arguments and summary rewritten from its
evidence, after the decision is recorded, within a daily budget."""
