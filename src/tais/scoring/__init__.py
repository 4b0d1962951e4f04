"""Scorers: rule-based refusal, multiple-choice letter extraction, and judge scorers that drive an Engine."""
